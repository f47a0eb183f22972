"""python -m services.grading: run the grading service alone."""

from services.grading.app import start
from services.grading.settings import GradingSettings as Settings
from shared.serve import serve_main

serve_main("grading", start, Settings())
