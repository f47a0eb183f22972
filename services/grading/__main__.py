"""python -m services.grading"""

from services.cli import serve_one

serve_one("grading")
