"""python -m services.preflight: run the preflight service alone."""

from services.preflight.app import start
from shared.serve import serve_main
from shared.settings import CommonSettings as Settings

serve_main("preflight", start, Settings())
