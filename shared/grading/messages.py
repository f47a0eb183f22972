"""The grading engine's catalogue: every message a test function writes for a student,
in `locales/<locale>.json`. Test functions call `say(ctx, key, **params)`, which uses
the submission's locale (GradeContext.locale)."""

from pathlib import Path
from typing import Protocol

from shared.i18n import Catalog

CATALOG = Catalog(Path(__file__).parent / "locales")


class HasLocale(Protocol):
    @property
    def locale(self) -> str: ...


def say(ctx: HasLocale, key: str, **params: object) -> str:
    return CATALOG.t(ctx.locale, key, **params)
