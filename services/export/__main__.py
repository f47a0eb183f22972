"""python -m services.export: run the export service alone."""

from services.export.app import Settings, start
from shared.serve import serve_main

serve_main("export", start, Settings)
