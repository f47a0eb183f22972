"""python -m services.intake: run the intake service alone."""

from services.intake.app import Settings, start
from shared.serve import serve_main

serve_main("intake", start, Settings)
