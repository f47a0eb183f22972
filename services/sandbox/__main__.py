"""python -m services.sandbox: run the sandbox service alone."""

from services.sandbox.app import Settings, start
from shared.serve import serve_main

serve_main("sandbox", start, Settings)
