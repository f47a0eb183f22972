"""python -m services.feedback: run the feedback service alone."""

from services.feedback.app import Settings, start
from shared.serve import serve_main

serve_main("feedback", start, Settings)
