"""python -m services.intake: run the intake service alone."""

from services.intake.app import start
from services.intake.settings import IntakeSettings as Settings
from shared.serve import serve_main

serve_main("intake", start, Settings())
