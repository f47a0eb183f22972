"""python -m services.preflight"""

from services.cli import serve_one

serve_one("preflight")
