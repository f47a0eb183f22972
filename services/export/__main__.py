"""python -m services.export"""

from services.cli import serve_one

serve_one("export")
