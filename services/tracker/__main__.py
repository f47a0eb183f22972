"""python -m services.tracker"""

from services.cli import serve_one

serve_one("tracker")
