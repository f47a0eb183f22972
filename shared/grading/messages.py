"""The grading engine's catalogue: every message a test function writes for a student,
in `locales/<locale>/*.json` (one file per template family). Test functions call
`say(ctx, key, **params)`, which uses the submission's locale (GradeContext.locale);
code that only knows the locale calls `say_in(locale, key, **params)`.

Code identifiers, file names, outputs and whatever the student wrote stay out of the
catalogue: they are passed in as placeholder values.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from shared.i18n import Catalog

CATALOG = Catalog(Path(__file__).parent / "locales")


class HasLocale(Protocol):
    @property
    def locale(self) -> str: ...


def say_in(locale: str, key: str, **params: object) -> str:
    return CATALOG.t(locale, key, **params)


def say(ctx: HasLocale, key: str, **params: object) -> str:
    return say_in(ctx.locale, key, **params)


def say_count(ctx: HasLocale, key: str, count: int, **params: object) -> str:
    """`<key>.one` when `count` is 1, else `<key>.other`: "1 time", "3 times"."""
    form = "one" if count == 1 else "other"
    return say(ctx, f"{key}.{form}", count=count, **params)


@dataclass(frozen=True)
class Phrase:
    """Text decided before the locale is known (a module-level constant, a rule read from
    the config): a catalogue key and its parameters, said once a ctx is at hand."""

    key: str
    params: Mapping[str, object] = field(default_factory=dict)

    def said(self, ctx: HasLocale) -> str:
        return say(ctx, self.key, **self.params)
