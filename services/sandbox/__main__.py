"""python -m services.sandbox"""

from services.cli import serve_one

serve_one("sandbox")
