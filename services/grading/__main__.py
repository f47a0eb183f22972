"""python -m services.grading: run the grading service alone."""

from services.grading.app import Settings, start
from shared.serve import serve_main

serve_main("grading", start, Settings)
