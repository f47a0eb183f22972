"""Custom templates are checked when the config is built, without running their code."""

from typing import Any

import pytest
from pydantic import ValidationError

from contracts.config import CUSTOM_TEMPLATE_MAX_BYTES, CustomTemplateSource, GradingConfigIn
from shared.grading.criteria import CriteriaTree, build_tree
from shared.grading.errors import CriteriaProblem, InvalidCriteria

CHECKS = '''
import re


def _words(text):
    return re.findall(r"\\w+", text)


@test
def mentions(submission, word: str, at_least: int = 1, files: list[str] | None = None):
    """Passes when the code mentions `word` often enough."""
    found = sum(_words(text).count(word) for text in submission.files.values())
    return found >= at_least, f"{word!r} appears {found} time(s)."


@test
def anything(submission, **params):
    return True
'''


def custom(source: str = CHECKS, name: str = "my_checks") -> CustomTemplateSource:
    return CustomTemplateSource(name=name, source=source)


def tree(tests: list[dict[str, Any]], source: str = CHECKS, *names: str) -> CriteriaTree:
    return build_tree({"base": {"tests": tests}}, names or ["my_checks"], [custom(source)])


def problems(
    tests: list[dict[str, Any]], source: str = CHECKS, *names: str
) -> list[CriteriaProblem]:
    with pytest.raises(InvalidCriteria) as raised:
        tree(tests, source, *names)
    return raised.value.errors


def test_a_good_module_gives_a_sandboxed_template_with_validated_parameters() -> None:
    built = tree([{"name": "mentions", "word": "sum", "at_least": "2"}])
    (test,) = built.tests()
    assert test.template.name == "my_checks"
    assert built.requires_sandbox
    assert test.params.model_dump() == {
        "time_limit_ms": None,
        "memory_limit_mb": None,
        "word": "sum",
        "at_least": 2,
        "files": None,
    }
    assert test.function.description == "Passes when the code mentions `word` often enough."


def test_helpers_are_not_test_functions_and_the_error_lists_the_module_functions() -> None:
    (problem,) = problems([{"name": "_words"}])
    assert problem["loc"] == ["criteria_config", "base", "tests", 0, "name"]
    assert "anything, mentions" in problem["msg"]


def test_a_missing_parameter_is_named_at_the_tests_path() -> None:
    (problem,) = problems([{"name": "mentions"}])
    assert problem["loc"] == ["criteria_config", "base", "tests", 0, "parameters", "word"]
    assert "missing required parameter 'word' of mentions" in problem["msg"]


def test_an_ill_typed_or_unknown_parameter_is_named() -> None:
    found = problems([{"name": "mentions", "word": "x", "at_least": "many", "colour": 1}])
    locs = [problem["loc"][-1] for problem in found]
    assert sorted(locs) == ["at_least", "colour"]
    assert any("known parameters: time_limit_ms, memory_limit_mb, word" in p["msg"] for p in found)


def test_params_accepts_any_parameter_and_the_limits_are_always_there() -> None:
    test = tree([{"name": "anything", "colour": "red", "time_limit_ms": 300}]).tests()[0]
    assert test.params.model_dump() == {
        "time_limit_ms": 300,
        "memory_limit_mb": None,
        "colour": "red",
    }


def test_a_syntax_error_is_reported_at_the_source_with_its_line() -> None:
    broken = "@test\ndef fine(submission):\n    return True\n\ndef broken(:\n    pass\n"
    # The tests naming its functions are not reported again: the module is the problem.
    (problem,) = problems([{"name": "fine"}], broken)
    assert problem["loc"] == ["custom_templates", 0, "source"]
    assert problem["msg"].startswith("line 5")


def test_compiler_errors_count_as_syntax_errors() -> None:
    (problem,) = problems([{"name": "x"}], "@test\ndef f(submission):\n    pass\nreturn 1\n")
    assert problem["msg"].startswith("line 4")
    assert "outside function" in problem["msg"]


def test_a_built_in_template_name_is_refused() -> None:
    config = {"base": {"tests": [{"name": "mentions", "word": "x"}]}}
    with pytest.raises(InvalidCriteria) as raised:
        build_tree(config, ["input_output"], [custom(name="input_output")])
    (problem,) = raised.value.errors
    assert problem["loc"] == ["custom_templates", 0, "name"]
    assert "built-in template" in problem["msg"]


def test_two_custom_templates_cannot_share_a_name() -> None:
    config = {"base": {"tests": [{"name": "mentions", "word": "x"}]}}
    with pytest.raises(InvalidCriteria) as raised:
        build_tree(config, ["my_checks"], [custom(), custom()])
    assert [p["loc"] for p in raised.value.errors] == [["custom_templates", 1, "name"]]


@pytest.mark.parametrize(
    ("signature", "complaint"),
    [
        ("def f(submission, limit: set = 3)", "annotate it with one of str, int"),
        ("def f(submission, limit: int = 'three')", "does not match its annotation"),
        ("def f(submission, limit: int = len('abc'))", "must be a literal"),
        ("def f(submission, *rest)", "*rest is not supported"),
        ("def f()", "must take the submission as its first parameter"),
        ("def f(submission, time_limit_ms: int = 1)", "reserved"),
        ("def f(submission, json: str = '')", "reserved"),
        ("async def f(submission)", "plain def"),
    ],
)
def test_unusable_signatures_are_explained(signature: str, complaint: str) -> None:
    (problem,) = problems([{"name": "f"}], f"@test\n{signature}:\n    return True\n")
    assert problem["loc"] == ["custom_templates", 0, "source"]
    assert problem["msg"].startswith("line 2: test function 'f'")
    assert complaint in problem["msg"]


def test_other_decorators_and_called_test_are_refused() -> None:
    source = "import functools\n@functools.cache\n@test\ndef f(submission):\n    return 1\n"
    (problem,) = problems([{"name": "f"}], source)
    assert "as its only decorator" in problem["msg"]
    (problem,) = problems([{"name": "f"}], "@test()\ndef f(submission):\n    return 1\n")
    assert "as its only decorator" in problem["msg"]


def test_a_module_without_test_functions_says_how_to_mark_them() -> None:
    (problem,) = problems([{"name": "f"}], "def f(submission):\n    return 1\n")
    assert "mark each with @test" in problem["msg"]


def test_the_module_is_never_executed_while_checking() -> None:
    source = "raise SystemExit('ran!')\n@test\ndef f(submission):\n    return True\n"
    assert tree([{"name": "f"}], source).tests()[0].name == "f"


def test_the_template_file_parameter_reaches_a_function_that_declares_it() -> None:
    source = "@test\ndef f(submission, file: str = ''):\n    return file in submission.files\n"
    test = tree([{"name": "f", "file": "main.py"}], source).tests()[0]
    assert test.params.model_dump()["file"] == "main.py"


def test_a_custom_function_with_a_built_in_name_is_qualified_by_its_template() -> None:
    source = "@test\ndef dont_fail(submission):\n    return True\n"
    assert problems([{"name": "dont_fail"}], source, "input_output", "my_checks")
    test = tree([{"name": "x", "type": "my_checks.dont_fail"}], source, "input_output", "my_checks")
    assert test.tests()[0].template.name == "my_checks"


def test_the_config_caps_the_source_size_and_checks_the_name() -> None:
    base = {"external_assignment_id": "a", "criteria_config": {}}
    too_big = "x" * (CUSTOM_TEMPLATE_MAX_BYTES + 1)
    with pytest.raises(ValidationError) as raised:
        GradingConfigIn.model_validate(
            {
                **base,
                "custom_templates": [
                    {"name": "ok", "source": too_big},
                    {"name": "a-b", "source": "x"},
                ],
            }
        )
    locs = [error["loc"] for error in raised.value.errors()]
    assert locs == [("custom_templates", 0, "source"), ("custom_templates", 1, "name")]
