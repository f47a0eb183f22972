"""build_tree: the tree it builds from a criteria config, and every problem it reports."""

from typing import Any

import pytest

from shared.grading.criteria import build_tree
from shared.grading.errors import CriteriaProblem, InvalidCriteria

SUM_TEST = {"name": "expect_output", "inputs": ["1", "2"], "expected_output": "3"}


def problems(config: Any, templates: tuple[str, ...] = ("input_output",)) -> list[CriteriaProblem]:
    with pytest.raises(InvalidCriteria) as raised:
        build_tree(config, list(templates))
    return raised.value.errors


def only_problem(config: Any) -> CriteriaProblem:
    found = problems(config)
    assert len(found) == 1, found
    return found[0]


def in_base(*tests: Any) -> dict[str, Any]:
    return {"base": {"tests": list(tests)}}


def test_parameters_given_as_a_list_as_keys_or_both_mean_the_same() -> None:
    as_list = {
        "name": "expect_output",
        "parameters": [
            {"name": "inputs", "value": ["1", "2"]},
            {"name": "expected_output", "value": "3"},
        ],
    }
    mixed = {
        "name": "expect_output",
        "parameters": [{"name": "inputs", "value": ["1", "2"]}],
        "expected_output": "3",
    }
    as_object = {
        "name": "expect_output",
        "parameters": {"inputs": ["1", "2"]},
        "expected_output": "3",
    }
    tree = build_tree(in_base(as_list, SUM_TEST, mixed, as_object), ["input_output"])
    params = [test.params for test in tree.tests()]
    assert all(p == params[0] for p in params)
    assert params[0].model_dump()["inputs"] == ["1", "2"]
    assert params[0].model_dump()["expected_output"] == "3"


def test_type_defaults_to_the_test_name() -> None:
    named_after = {"name": "dont_fail"}
    typed = {"name": "Runs without crashing", "type": "dont_fail"}
    first, second = build_tree(in_base(named_after, typed), ["input_output"]).tests()
    assert (first.type, first.function.name) == ("dont_fail", "dont_fail")
    assert (second.type, second.name) == ("dont_fail", "Runs without crashing")


def test_siblings_with_one_name_get_unique_paths() -> None:
    config = {"base": {"subjects": [{"subject_name": "Addition", "tests": [SUM_TEST] * 3}]}}
    paths = [test.path for test in build_tree(config, ["input_output"]).tests()]
    assert paths == [
        "base/Addition/expect_output",
        "base/Addition/expect_output#2",
        "base/Addition/expect_output#3",
    ]


def test_paths_stay_unique_when_a_name_contains_a_slash() -> None:
    config = {
        "base": {
            "subjects_weight": 50,
            "subjects": [{"subject_name": "a", "tests": [{"name": "b", "type": "dont_fail"}]}],
            "tests": [{"name": "a/b", "type": "dont_fail"}],
        }
    }
    paths = [test.path for test in build_tree(config, ["input_output"]).tests()]
    assert paths == ["base/a/b", "base/a/b#2"]


def test_categories_weights_and_the_ignored_test_library_key() -> None:
    config = {
        "test_library": "input_output",
        "base": {"weight": 12, "tests": [SUM_TEST]},
        "bonus": {"weight": 20, "tests": [SUM_TEST]},
        "penalty": {"weight": 35, "tests": [{"name": "dont_fail"}]},
    }
    tree = build_tree(config, ["input_output"])
    weights = {name: node.weight for name, node in tree.categories.items()}
    assert weights == {"base": 100, "bonus": 20, "penalty": 35}
    assert tree.requires_sandbox


def test_the_test_file_is_kept() -> None:
    (test,) = build_tree(in_base({**SUM_TEST, "file": "calc.py"}), ["input_output"]).tests()
    assert test.file == "calc.py"


def test_every_problem_is_reported_at_once() -> None:
    config = {
        "base": {"tests": [{"name": "expect_output"}, {"name": "nope"}]},
        "bonus": {"tests": [SUM_TEST]},
    }
    locs = [problem["loc"] for problem in problems(config)]
    assert locs == [
        ["criteria_config", "base", "tests", 0, "parameters", "expected_output"],
        ["criteria_config", "base", "tests", 1, "name"],
        ["criteria_config", "bonus", "weight"],
    ]


def test_a_missing_parameter_is_named_at_the_test_path() -> None:
    config = {
        "base": {
            "subjects": [{"subject_name": "S", "tests": [SUM_TEST, {"name": "expect_output"}]}]
        }
    }
    problem = only_problem(config)
    assert problem["loc"] == [
        "criteria_config", "base", "subjects", 0, "tests", 1, "parameters", "expected_output",
    ]  # fmt: skip
    assert "missing" in problem["msg"]
    assert "'expected_output'" in problem["msg"]


def test_an_ill_typed_parameter_is_named() -> None:
    problem = only_problem(in_base({**SUM_TEST, "expected_output": ["3"]}))
    assert problem["loc"] == [
        "criteria_config",
        "base",
        "tests",
        0,
        "parameters",
        "expected_output",
    ]
    assert "'expected_output'" in problem["msg"]
    assert "string" in problem["msg"]


def test_an_ill_typed_list_item_points_at_the_item() -> None:
    problem = only_problem(in_base({**SUM_TEST, "inputs": ["1", {"x": 1}]}))
    assert problem["loc"] == ["criteria_config", "base", "tests", 0, "parameters", "inputs", 1]
    assert "'inputs'" in problem["msg"]


def test_an_unknown_parameter_lists_the_known_ones() -> None:
    problem = only_problem(in_base({**SUM_TEST, "expected_outptu": "3"}))
    assert problem["loc"] == [
        "criteria_config",
        "base",
        "tests",
        0,
        "parameters",
        "expected_outptu",
    ]
    assert "unknown parameter 'expected_outptu'" in problem["msg"]
    assert "expected_output" in problem["msg"]


def test_a_parameter_given_both_ways_is_an_error() -> None:
    test = {**SUM_TEST, "parameters": [{"name": "inputs", "value": ["1"]}]}
    problem = only_problem(in_base(test))
    assert problem["loc"] == ["criteria_config", "base", "tests", 0, "parameters", "inputs"]
    assert "twice" in problem["msg"]


def test_a_parameter_listed_twice_is_an_error() -> None:
    listed = [{"name": "expected_output", "value": "3"}, {"name": "expected_output", "value": "4"}]
    problem = only_problem(in_base({"name": "expect_output", "parameters": listed}))
    assert problem["loc"] == ["criteria_config", "base", "tests", 0, "parameters", 1]
    assert "'expected_output' is given twice" in problem["msg"]


@pytest.mark.parametrize("entry", [{"value": 1}, {"name": "inputs"}, "inputs"])
def test_a_malformed_parameter_entry_is_an_error(entry: Any) -> None:
    test = {"name": "dont_fail", "parameters": [entry]}
    problem = only_problem(in_base(test))
    assert problem["loc"] == ["criteria_config", "base", "tests", 0, "parameters", 0]
    assert '"name"' in problem["msg"]


def test_an_unknown_test_function_lists_the_known_ones() -> None:
    problem = only_problem(in_base({"name": "expect_outptu"}))
    assert problem["loc"] == ["criteria_config", "base", "tests", 0, "name"]
    assert "'expect_outptu'" in problem["msg"]
    assert "dont_fail, expect_file_artifact, expect_output" in problem["msg"]


def test_an_unknown_type_is_reported_at_the_type_key() -> None:
    problem = only_problem(in_base({"name": "Sum", "type": "expect"}))
    assert problem["loc"] == ["criteria_config", "base", "tests", 0, "type"]
    assert "'expect'" in problem["msg"]


def test_an_unknown_template_lists_the_known_ones() -> None:
    found = problems(in_base(SUM_TEST), templates=("io",))
    assert found[0]["loc"] == ["template_name"]
    assert found[0]["msg"].startswith("unknown template 'io'; known templates: ")
    assert "input_output" in found[0]["msg"]


def test_an_unknown_language_in_a_command_map_is_named() -> None:
    problem = only_problem(in_base({**SUM_TEST, "program_command": {"rust": "cargo run"}}))
    assert problem["loc"] == [
        "criteria_config",
        "base",
        "tests",
        0,
        "parameters",
        "program_command",
    ]
    assert "rust" in problem["msg"]


@pytest.mark.parametrize(
    ("config", "loc", "words"),
    [
        ([], ["criteria_config"], "object"),
        ({"bonus": {"weight": 10, "tests": [SUM_TEST]}}, ["criteria_config", "base"], "required"),
        ({**in_base(SUM_TEST), "extra": {}}, ["criteria_config", "extra"], "'extra'"),
        ({"base": []}, ["criteria_config", "base"], "object"),
        ({"base": {}}, ["criteria_config", "base"], "at least one test or subject"),
        ({"base": {"tests": {}}}, ["criteria_config", "base", "tests"], "list"),
        (
            {"base": {"tests": [SUM_TEST], "tset": []}},
            ["criteria_config", "base", "tset"],
            "'tset'",
        ),
        ({"base": {"tests": ["x"]}}, ["criteria_config", "base", "tests", 0], "object"),
    ],
)
def test_shape_problems(config: Any, loc: list[Any], words: str) -> None:
    problem = only_problem(config)
    assert problem["loc"] == loc
    assert words in problem["msg"]


def subject(**fields: Any) -> dict[str, Any]:
    return {"base": {"subjects": [{"subject_name": "S", "tests": [SUM_TEST], **fields}]}}


SUBJECT_LOC = ["criteria_config", "base", "subjects", 0]


@pytest.mark.parametrize(
    ("config", "loc", "words"),
    [
        (subject(subject_name=""), [*SUBJECT_LOC, "subject_name"], "'subject_name'"),
        (subject(weight=-1), [*SUBJECT_LOC, "weight"], ">= 0"),
        (subject(weight=True), [*SUBJECT_LOC, "weight"], "number"),
        (subject(name="S"), [*SUBJECT_LOC, "name"], "unknown key 'name'"),
        (
            subject(subjects=[{"subject_name": "T", "tests": [SUM_TEST]}]),
            [*SUBJECT_LOC, "subjects_weight"],
            "required",
        ),
        (
            subject(subjects=[{"subject_name": "T", "tests": [SUM_TEST]}], subjects_weight=101),
            [*SUBJECT_LOC, "subjects_weight"],
            "0 to 100",
        ),
        (
            in_base({**SUM_TEST, "weight": "10"}),
            ["criteria_config", "base", "tests", 0, "weight"],
            "number",
        ),
        (
            in_base({**SUM_TEST, "name": 3}),
            ["criteria_config", "base", "tests", 0, "name"],
            "string",
        ),
    ],
)
def test_node_and_weight_problems(config: Any, loc: list[Any], words: str) -> None:
    problem = only_problem(config)
    assert problem["loc"] == loc
    assert words in problem["msg"]


@pytest.mark.parametrize(("category", "weight"), [("bonus", None), ("penalty", 150), ("bonus", -5)])
def test_bonus_and_penalty_need_a_weight_from_0_to_100(category: str, weight: Any) -> None:
    node: dict[str, Any] = {"tests": [SUM_TEST]}
    if weight is not None:
        node["weight"] = weight
    problem = only_problem({**in_base(SUM_TEST), category: node})
    assert problem["loc"] == ["criteria_config", category, "weight"]
    assert "0" in problem["msg"]
    assert "100" in problem["msg"]


def test_invalid_criteria_is_a_value_error_with_a_readable_message() -> None:
    with pytest.raises(ValueError, match=r"criteria_config\.base\.tests\.0\.name: unknown test"):
        build_tree(in_base({"name": "nope"}), ["input_output"])


def test_the_published_criteria_schema_accepts_the_demo_config() -> None:
    import json
    from pathlib import Path

    from shared.grading.criteria_schema import CriteriaSpec

    demo = Path(__file__).resolve().parents[3] / "deploy" / "demo" / "config.json"
    CriteriaSpec.model_validate(json.loads(demo.read_text())["criteria_config"])
