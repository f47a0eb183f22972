"""The grading engine's catalogues are complete in both languages and in sync."""

from shared.grading.messages import CATALOG
from shared.i18n import SUPPORTED_LOCALES, placeholders


def test_every_catalogue_has_the_same_keys_and_placeholders() -> None:
    english = CATALOG.messages("en")
    for locale in SUPPORTED_LOCALES:
        other = CATALOG.messages(locale)
        assert set(other) == set(english), locale
        for key, text in english.items():
            assert placeholders(other[key]) == placeholders(text), (locale, key)
