"""python -m services.feedback: run the feedback service alone."""

from services.feedback.app import start
from shared.serve import serve_main
from shared.settings import CommonSettings as Settings

serve_main("feedback", start, Settings())
