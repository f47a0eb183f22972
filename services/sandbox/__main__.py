"""python -m services.sandbox: run the sandbox service alone."""

from services.sandbox.app import start
from services.sandbox.settings import SandboxSettings as Settings
from shared.serve import serve_main

serve_main("sandbox", start, Settings())
