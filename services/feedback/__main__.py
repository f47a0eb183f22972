"""python -m services.feedback"""

from services.cli import serve_one

serve_one("feedback")
