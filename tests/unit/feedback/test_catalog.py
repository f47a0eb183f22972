"""The locale catalogues: complete, in sync, and chosen from any locale spelling."""

import pytest

from services.feedback import catalog
from services.feedback.catalog import messages, normalize_locale, placeholders, t


def test_catalogues_have_exactly_the_same_keys() -> None:
    english, portuguese = messages("en"), messages("pt_BR")

    assert sorted(english.keys() - portuguese.keys()) == []
    assert sorted(portuguese.keys() - english.keys()) == []


def test_catalogues_use_the_same_placeholders_for_every_key() -> None:
    english, portuguese = messages("en"), messages("pt_BR")

    mismatched = {
        key: (placeholders(english[key]), placeholders(portuguese[key]))
        for key in english
        if placeholders(english[key]) != placeholders(portuguese[key])
    }
    assert mismatched == {}


def test_portuguese_texts_are_translated() -> None:
    english, portuguese = messages("en"), messages("pt_BR")
    # Texts that are only numbers, code or a symbol read the same in both languages.
    language_neutral = {"report.category_score"}

    untranslated = [
        key for key in english if key not in language_neutral and english[key] == portuguese[key]
    ]
    assert untranslated == []


@pytest.mark.parametrize(
    ("spelling", "catalogue"),
    [
        ("pt-BR", "pt_BR"),
        ("pt_BR", "pt_BR"),
        ("pt", "pt_BR"),
        ("en", "en"),
        ("en-US", "en"),
        ("de", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_locale_spellings_map_to_a_catalogue(spelling: str | None, catalogue: str) -> None:
    assert normalize_locale(spelling) == catalogue


def test_t_fills_placeholders() -> None:
    assert t("pt-BR", "report.grade", score="85,5") == "## Nota: 85,5/100"


def test_an_unknown_key_names_the_key_and_catalogue() -> None:
    with pytest.raises(KeyError, match=r"report\.nope.*en\.json"):
        t("en", "report.nope")


def test_every_locale_file_on_disk_is_a_supported_catalogue() -> None:
    on_disk = {path.stem for path in catalog.LOCALES_DIR.glob("*.json")}

    assert on_disk == set(catalog.SUPPORTED_LOCALES)
