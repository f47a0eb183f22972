"""python -m services.tracker: run the tracker service alone."""

from services.tracker.app import start
from services.tracker.settings import TrackerSettings as Settings
from shared.serve import serve_main

serve_main("tracker", start, Settings())
