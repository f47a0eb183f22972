"""python -m services.preflight: run the preflight service alone."""

from services.preflight.app import Settings, start
from shared.serve import serve_main

serve_main("preflight", start, Settings)
