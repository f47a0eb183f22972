"""Student-facing text in every supported language, read from `locales/<locale>.json`.

Templates use `str.format` placeholders (`{score}`). A locale the catalogues do not know
falls back to English; every Portuguese spelling (`pt`, `pt-BR`, `pt_BR`) means pt_BR.
"""

import json
import string
from functools import cache
from pathlib import Path

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES = ("en", "pt_BR")


def normalize_locale(locale: str | None) -> str:
    """The catalogue name for a locale tag: 'pt-BR' -> 'pt_BR', 'fr' -> 'en'."""
    language = (locale or "").strip().replace("-", "_").split("_")[0].lower()
    # Portuguese speakers read Brazilian Portuguese far more easily than English.
    return "pt_BR" if language == "pt" else DEFAULT_LOCALE


@cache
def messages(locale: str) -> dict[str, str]:
    """Every template of one catalogue (`en` or `pt_BR`), keyed by message key."""
    if locale not in SUPPORTED_LOCALES:
        raise ValueError(f"no catalogue {locale!r}; known: {list(SUPPORTED_LOCALES)}")
    loaded = json.loads((LOCALES_DIR / f"{locale}.json").read_text(encoding="utf-8"))
    if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
        raise ValueError(f"locales/{locale}.json must map keys to strings")
    return {str(key): value for key, value in loaded.items()}


def template(locale: str | None, key: str) -> str:
    """The unfilled template of `key` in `locale`: '## Grade: {score}/100'."""
    catalogue = normalize_locale(locale)
    try:
        return messages(catalogue)[key]
    except KeyError:
        raise KeyError(f"no text {key!r} in locales/{catalogue}.json") from None


def t(locale: str | None, key: str, **params: object) -> str:
    """The text of `key` in `locale`, with its placeholders filled from `params`."""
    return template(locale, key).format(**params)


def t_list(locale: str | None, prefix: str, **params: object) -> list[str]:
    """The texts `prefix.1`, `prefix.2`, ... in order, so a list can grow in the JSON alone."""
    catalogue = messages(normalize_locale(locale))
    texts: list[str] = []
    while f"{prefix}.{len(texts) + 1}" in catalogue:
        texts.append(t(locale, f"{prefix}.{len(texts) + 1}", **params))
    return texts


def placeholders(template: str) -> set[str]:
    """The placeholder names a template expects: '{score}/100' -> {'score'}."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}
