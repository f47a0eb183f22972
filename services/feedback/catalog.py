"""The feedback service's catalogue of student-facing text (`locales/<locale>.json`)."""

from pathlib import Path

from shared.i18n import SUPPORTED_LOCALES, Catalog, normalize_locale, placeholders

LOCALES_DIR = Path(__file__).parent / "locales"
CATALOG = Catalog(LOCALES_DIR)
messages = CATALOG.messages
template = CATALOG.template
t = CATALOG.t
t_list = CATALOG.t_list

__all__ = [
    "SUPPORTED_LOCALES",
    "messages",
    "normalize_locale",
    "placeholders",
    "t",
    "t_list",
    "template",
]
