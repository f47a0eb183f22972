"""Student-facing text in every supported language, read from `<dir>/<locale>.json`.

Each component that speaks to students (the grading engine, the feedback service) has
its own catalogue directory. Templates use `str.format` placeholders (`{score}`). A
locale the catalogues do not know falls back to English; every Portuguese spelling
(`pt`, `pt-BR`, `pt_BR`) means pt_BR.
"""

import json
import string
from functools import cache
from pathlib import Path

DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES = ("en", "pt_BR")


def normalize_locale(locale: str | None) -> str:
    """The catalogue name for a locale tag: 'pt-BR' -> 'pt_BR', 'fr' -> 'en'."""
    language = (locale or "").strip().replace("-", "_").split("_")[0].lower()
    # Portuguese speakers read Brazilian Portuguese far more easily than English.
    return "pt_BR" if language == "pt" else DEFAULT_LOCALE


def placeholders(template: str) -> set[str]:
    """The placeholder names a template expects: '{score}/100' -> {'score'}."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


@cache
def _load(directory: Path, locale: str) -> dict[str, str]:
    """`<dir>/<locale>.json`, or every `<dir>/<locale>/*.json` merged (one file per part,
    e.g. per template, so parts are edited independently); a key defined twice is an error."""
    single = directory / f"{locale}.json"
    files = [single] if single.exists() else sorted((directory / locale).glob("*.json"))
    merged: dict[str, str] = {}
    for path in files:
        for key, value in _read(path).items():
            if key in merged:
                raise ValueError(f"{path}: key {key!r} is defined twice in {locale}")
            merged[key] = value
    return merged


def _read(path: Path) -> dict[str, str]:
    loaded = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
        raise ValueError(f"{path} must map keys to strings")
    return {str(key): value for key, value in loaded.items()}


class Catalog:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def messages(self, locale: str) -> dict[str, str]:
        """Every template of one catalogue (`en` or `pt_BR`), keyed by message key."""
        if locale not in SUPPORTED_LOCALES:
            raise ValueError(f"no catalogue {locale!r}; known: {list(SUPPORTED_LOCALES)}")
        return _load(self.directory, locale)

    def template(self, locale: str | None, key: str) -> str:
        catalogue = normalize_locale(locale)
        try:
            return self.messages(catalogue)[key]
        except KeyError:
            raise KeyError(f"no text {key!r} in {self.directory.name}/{catalogue}.json") from None

    def t(self, locale: str | None, key: str, **params: object) -> str:
        """The text of `key` in `locale`, with its placeholders filled from `params`."""
        return self.template(locale, key).format(**params)

    def t_list(self, locale: str | None, prefix: str, **params: object) -> list[str]:
        """The texts `prefix.1`, `prefix.2`, ... in order, so a list can grow in the JSON."""
        catalogue = self.messages(normalize_locale(locale))
        texts: list[str] = []
        while f"{prefix}.{len(texts) + 1}" in catalogue:
            texts.append(self.t(locale, f"{prefix}.{len(texts) + 1}", **params))
        return texts
