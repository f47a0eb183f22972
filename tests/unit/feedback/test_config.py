"""The feedback section of a grading config (shared/feedback_config.py)."""

import pytest

from services.feedback.logic import choose_locale
from shared.feedback_config import InvalidFeedbackConfig, parse_feedback_config


def test_missing_config_gives_sensible_defaults() -> None:
    config = parse_feedback_config(None)

    assert config.mode == "default"
    assert config.general.show_score is True
    assert config.general.show_passed_tests is False
    assert config.general.add_report_summary is True
    assert config.general.online_content == []
    assert config.locale is None


def test_a_full_config_is_read() -> None:
    config = parse_feedback_config(
        {
            "general": {
                "report_title": "Lab 3",
                "show_passed_tests": True,
                "online_content": [
                    {"url": "https://ex.org", "description": "Loops", "linked_tests": ["t1"]}
                ],
            },
            "default": {"category_headers": {"base": "Required"}},
            "ai": {"provide_solutions": "full", "feedback_tone": "warm"},
            "mode": "ai",
            "locale": "pt-BR",
        }
    )

    assert config.general.report_title == "Lab 3"
    assert config.general.online_content[0].linked_tests == ["t1"]
    assert config.default.category_headers.base == "Required"
    assert config.ai.provide_solutions == "full"
    assert config.mode == "ai"
    assert config.locale == "pt-BR"


def test_an_unknown_key_is_rejected_with_a_message_naming_it() -> None:
    with pytest.raises(InvalidFeedbackConfig) as rejected:
        parse_feedback_config({"general": {"show_scores": False}})

    message = str(rejected.value)
    assert "unknown key 'general.show_scores'" in message
    assert "show_score" in message  # the allowed keys are listed, so the typo is obvious


def test_an_unknown_key_inside_online_content_is_rejected() -> None:
    raw = {"general": {"online_content": [{"url": "https://ex.org", "tests": ["t1"]}]}}

    with pytest.raises(
        InvalidFeedbackConfig, match=r"unknown key 'general\.online_content\.0\.tests'"
    ):
        parse_feedback_config(raw)


def test_an_unknown_top_level_section_is_rejected() -> None:
    with pytest.raises(InvalidFeedbackConfig, match="unknown key 'theme'"):
        parse_feedback_config({"theme": "dark"})


def test_wrong_values_are_rejected_with_their_location() -> None:
    with pytest.raises(InvalidFeedbackConfig, match="mode"):
        parse_feedback_config({"mode": "fancy"})
    with pytest.raises(InvalidFeedbackConfig, match="locale"):
        parse_feedback_config({"locale": "klingon"})


def test_the_reference_autograders_solution_levels_are_accepted() -> None:
    assert (
        parse_feedback_config({"ai": {"provide_solutions": "hint"}}).ai.provide_solutions == "hints"
    )
    assert (
        parse_feedback_config({"ai": {"provide_solutions": "detailed"}}).ai.provide_solutions
        == "full"
    )


@pytest.mark.parametrize("spelling", ["pt-BR", "pt_BR", "pt", "PT-br"])
def test_portuguese_locale_spellings_are_accepted(spelling: str) -> None:
    assert parse_feedback_config({"locale": spelling}).locale == "pt-BR"


def test_instructor_locale_wins_over_the_submissions() -> None:
    assert choose_locale(parse_feedback_config({"locale": "pt-BR"}), "en") == "pt-BR"
    assert choose_locale(parse_feedback_config(None), "pt-BR") == "pt-BR"
