"""The Markdown report a student reads after grading (render_report)."""

from contracts.results import ResultTree
from services.feedback.logic import render_report
from shared.feedback_config import parse_feedback_config
from tests.unit.feedback.builders import a_category, a_test, focus_ranking, graded_tree


def report(raw_config: dict[str, object] | None = None, locale: str = "en") -> str:
    return render_report(graded_tree(), focus_ranking(), parse_feedback_config(raw_config), locale)


def test_report_opens_with_title_grade_and_summary() -> None:
    text = report({"general": {"report_title": "Lab 3: Calculator"}})

    assert text.startswith("# Lab 3: Calculator\n\n## Grade: 85.5/100\n")
    assert "tests passed: 3 · tests failed: 2 · total: 5" in text


def test_score_and_summary_can_be_hidden() -> None:
    text = report({"general": {"show_score": False, "add_report_summary": False}})

    assert "Grade" not in text
    assert "Points lost" not in text
    assert "/100" not in text
    assert "Summary" not in text


def test_failed_test_shows_its_message_and_expected_versus_received() -> None:
    text = report()

    section = text[text.index("`adds_numbers`") :]
    assert "The sum is wrong." in section
    expected_at = section.index("**Expected:**\n```text\n5\n```")
    received_at = section.index("**Received:**\n```text\n4\n```")
    assert expected_at < received_at


def test_a_long_received_output_is_truncated_and_says_so() -> None:
    flood = "".join(f"line {number}\n" for number in range(500))
    tree = ResultTree(
        final_score=0,
        children={"base": a_category("base", [a_test("table", verdict="failed", actual=flood)], 0)},
    )

    text = render_report(tree, [], parse_feedback_config(None), "en")

    assert "line 0\n" in text
    assert "line 499" not in text
    assert "Output truncated: showing the first 30 of 500 lines" in text


def test_limit_verdict_is_explained_in_words() -> None:
    section = report().split("#### ")[1]

    assert section.startswith("❌ `handles_empty_input`")
    assert "Time limit exceeded" in section


def test_failed_tests_follow_focus_order_most_points_lost_first() -> None:
    text = report()

    # The tree lists adds_numbers first; focus ranks handles_empty_input (10 points) above it.
    assert text.index("`handles_empty_input`") < text.index("`adds_numbers`")
    assert "**Points lost:** 10" in text
    assert "**Points lost:** 4.5" in text


def test_passed_tests_are_hidden_by_default() -> None:
    text = report()

    assert "`prints_greeting`" not in text
    assert "`fast_path`" not in text
    assert "All tests in this category passed." in text
    assert "No penalties applied." in text


def test_passed_tests_are_listed_when_asked() -> None:
    text = report({"general": {"show_passed_tests": True}})

    assert "- ✅ `prints_greeting`" in text
    assert "- ✅ `fast_path`" in text


def test_categories_appear_base_bonus_penalty_with_default_headers() -> None:
    text = report()

    base = text.index("### ❌ Base Tests (33.33/100)")
    bonus = text.index("### ✅ Bonus Tests (100/100)")
    penalty = text.index("### ✅ Penalties (100/100)")
    assert base < bonus < penalty


def test_instructor_category_headers_replace_the_defaults() -> None:
    headers = {"base": "🧪 Required", "bonus": "⭐ Extra credit", "penalty": "🚫 Code smells"}
    text = report({"default": {"category_headers": headers}})

    assert "### 🧪 Required (33.33/100)" in text
    assert "### ⭐ Extra credit (100/100)" in text
    assert "### 🚫 Code smells (100/100)" in text
    assert "Base Tests" not in text


def test_learning_resources_link_only_to_failed_tests() -> None:
    online_content = [
        {
            "url": "https://ex.org/loops",
            "description": "Loops",
            "linked_tests": ["handles_empty_input"],
        },
        {"url": "https://ex.org/sums", "description": "Sums", "linked_tests": ["adds_numbers"]},
        {
            "url": "https://ex.org/hello",
            "description": "Printing",
            "linked_tests": ["prints_greeting"],
        },
    ]
    text = report({"general": {"online_content": online_content}})

    resources = text[text.index("## Learning resources") :]
    assert "- [Loops](https://ex.org/loops), related to `handles_empty_input`" in resources
    assert "- [Sums](https://ex.org/sums), related to `adds_numbers`" in resources
    assert "ex.org/hello" not in text


def test_learning_resources_match_a_failed_test_by_its_type() -> None:
    penalised = a_test(
        "no_global_vars", type="forbidden_pattern", verdict="failed", path="penalty.no_global_vars"
    )
    tree = ResultTree(
        final_score=80, children={"penalty": a_category("penalty", [penalised], score=0)}
    )
    config = parse_feedback_config(
        {
            "general": {
                "online_content": [
                    {"url": "https://ex.org/g", "linked_tests": ["forbidden_pattern"]}
                ]
            }
        }
    )

    text = render_report(tree, [], config, "en")

    assert "- [https://ex.org/g](https://ex.org/g), related to `no_global_vars`" in text


def test_no_learning_resources_section_when_nothing_failed_is_linked() -> None:
    online_content = [{"url": "https://ex.org/hello", "linked_tests": ["prints_greeting"]}]

    assert "Learning resources" not in report({"general": {"online_content": online_content}})


def test_pt_br_report_is_in_portuguese_with_decimal_commas() -> None:
    text = report(locale="pt-BR")

    assert "# Relatório de Correção" in text
    assert "## Nota: 85,5/100" in text
    assert "testes aprovados: 3 · testes com falha: 2" in text
    assert "**Esperado:**" in text
    assert "**Recebido:**" in text
    assert "Tempo limite excedido" in text
    assert "Grade" not in text
    assert "Expected" not in text


def test_unknown_locale_falls_back_to_english() -> None:
    assert "## Grade: 85.5/100" in report(locale="fr-FR")


def test_all_passing_submission_congratulates_the_student() -> None:
    tree = ResultTree(final_score=100, children={"base": a_category("base", [a_test("ok")], 100)})

    text = render_report(tree, [], parse_feedback_config(None), "en")

    assert "Every test passed. Well done!" in text
    assert "#### ❌" not in text
