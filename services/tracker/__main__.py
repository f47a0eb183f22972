"""python -m services.tracker: run the tracker service alone."""

from services.tracker.app import Settings, start
from shared.serve import serve_main

serve_main("tracker", start, Settings)
