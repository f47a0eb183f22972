"""python -m services.export: run the export service alone."""

from services.export.app import start
from services.export.settings import ExportSettings as Settings
from shared.serve import serve_main

serve_main("export", start, Settings())
