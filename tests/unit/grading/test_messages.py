"""The grading engine's catalogues are complete in both languages and in sync, and every
key the code names is in them."""

import re
from pathlib import Path

from shared.grading.messages import CATALOG, Phrase, say, say_count
from shared.grading.ports import GradeContext
from shared.i18n import SUPPORTED_LOCALES, placeholders

ROOT = Path(__file__).resolve().parents[3]
# Everything that builds outcomes for students: the engine and the AI_BATCH step.
SOURCES = [
    *sorted((ROOT / "shared" / "grading").rglob("*.py")),
    ROOT / "services/grading/ai_batch.py",
]


def test_every_catalogue_has_the_same_keys_and_placeholders() -> None:
    english = CATALOG.messages("en")
    for locale in SUPPORTED_LOCALES:
        other = CATALOG.messages(locale)
        assert set(other) == set(english), locale
        for key, text in english.items():
            assert placeholders(other[key]) == placeholders(text), (locale, key)


def keys_named_in_code() -> dict[str, set[str]]:
    """Every string literal in the sources that looks like a catalogue key (starts with
    a family of the catalogue, like "webdev."), by the file it is in."""
    families = sorted({key.split(".")[0] for key in CATALOG.messages("en")})
    literal = re.compile(rf"""["']((?:{"|".join(families)})\.[a-z0-9_.]+)["']""")
    return {
        str(path.relative_to(ROOT)): set(literal.findall(path.read_text(encoding="utf-8")))
        for path in SOURCES
    }


def test_every_key_the_code_names_is_in_the_catalogue() -> None:
    english = CATALOG.messages("en")
    # A counted key ("webdev.count.time") stands for its ".one" and ".other" forms.
    missing = {
        (path, key)
        for path, keys in keys_named_in_code().items()
        for key in keys
        if key not in english and not {f"{key}.one", f"{key}.other"} <= english.keys()
    }
    assert not missing


def test_the_scan_finds_the_keys_of_every_template_family() -> None:
    named = set().union(*keys_named_in_code().values())
    families = {key.split(".")[0] for key in named}
    assert {"input_output", "static_analysis", "webdev", "ai", "scoring", "common"} <= families


def test_say_count_picks_the_form_for_the_number() -> None:
    pt = GradeContext("python", {}, None, locale="pt_BR")
    assert say_count(pt, "webdev.count.time", 1) == "1 vez"
    assert say_count(pt, "webdev.count.time", 0) == "0 vezes"
    assert say_count(pt, "webdev.count.tag_element", 2, tag="li") == "2 elementos <li>"


def test_a_phrase_is_said_in_the_locale_of_the_context() -> None:
    phrase = Phrase("static_analysis.construct.while_loop")
    assert phrase.said(GradeContext("python", {}, None)) == "while loop"
    assert phrase.said(GradeContext("python", {}, None, locale="pt-BR")) == "laço while"
    assert say(GradeContext("c", {}, None, locale="fr"), "webdev.line", line=3) == "line 3"
