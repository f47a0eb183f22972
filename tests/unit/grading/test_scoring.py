"""The scoring formula on worked examples; every expected number is computed by hand."""

from collections.abc import Mapping
from typing import Any

import pytest

from contracts.results import ResultTree
from contracts.sandbox import Verdict
from shared.grading.criteria import build_tree
from shared.grading.scoring import focus, grade, run_tests, score_tree, score_vector
from shared.messaging.rpc import RpcTimeout, RpcUnavailable
from shared.sandbox_client import SandboxLost
from tests.unit.grading.fakes import FakeRunner, check, context, ran, scored


def score(config: dict[str, Any], scores: Mapping[str, float]) -> ResultTree:
    tree = build_tree(config, ["input_output"])
    return score_tree(tree, {path: scored(value) for path, value in scores.items()})


def test_nested_subjects_with_rescaled_weights() -> None:
    config = {
        "base": {
            "subjects": [
                {"subject_name": "A", "weight": 3, "tests": [check("a1", 1), check("a2", 3)]},
                {
                    "subject_name": "B",
                    "weight": 1,
                    "subjects": [
                        {"subject_name": "B1", "weight": 0, "tests": [check("b1")]},
                        {"subject_name": "B2", "weight": 0, "tests": [check("b2")]},
                    ],
                },
            ]
        }
    }
    result = score(
        config, {"base/A/a1": 100, "base/A/a2": 0, "base/B/B1/b1": 80, "base/B/B2/b2": 40}
    )
    # A = (1*100 + 3*0) / 4 = 25
    # B: weights 0 and 0 -> equal shares: (80 + 40) / 2 = 60
    # base = (3*25 + 1*60) / 4 = 135 / 4 = 33.75
    base = result.children["base"]
    assert result.final_score == 33.75
    assert [subject.score for subject in base.subjects] == [25, 60]
    assert [subject.weight for subject in base.subjects] == [75, 25]
    assert [test.weight for test in base.subjects[0].tests] == [25, 75]
    assert [subject.weight for subject in base.subjects[1].subjects] == [50, 50]


def test_subjects_share_subjects_weight_and_tests_the_rest() -> None:
    config = {
        "base": {
            "subjects_weight": 30,
            "subjects": [{"subject_name": "S", "tests": [check("s1")]}],
            "tests": [check("t1"), check("t2")],
        }
    }
    result = score(config, {"base/S/s1": 50, "base/t1": 100, "base/t2": 100})
    # subjects 50 at 30%, tests 100 at 70%: 0.3*50 + 0.7*100 = 15 + 70 = 85
    assert result.final_score == 85
    assert result.children["base"].subjects_weight == 30


def test_bonus_adds_its_score_times_its_weight() -> None:
    config = {
        "base": {"tests": [check("b1")]},
        "bonus": {"weight": 30, "tests": [check("x1")]},
    }
    # 80 + 50 * 30/100 = 80 + 15 = 95
    assert score(config, {"base/b1": 80, "bonus/x1": 50}).final_score == 95


def test_penalty_deducts_what_its_tests_did_not_pass() -> None:
    config = {
        "base": {"tests": [check("b1")]},
        "penalty": {"weight": 40, "tests": [check("p1")]},
    }
    # 90 - (100 - 75) * 40/100 = 90 - 10 = 80
    assert score(config, {"base/b1": 90, "penalty/p1": 75}).final_score == 80


def test_a_fully_passed_penalty_deducts_nothing() -> None:
    config = {
        "base": {"tests": [check("b1")]},
        "penalty": {"weight": 50, "tests": [check("p1")]},
    }
    # 70 - (100 - 100) * 50/100 = 70
    assert score(config, {"base/b1": 70, "penalty/p1": 100}).final_score == 70


def test_base_bonus_and_penalty_together() -> None:
    config = {
        "base": {"tests": [check("b1")]},
        "bonus": {"weight": 20, "tests": [check("x1")]},
        "penalty": {"weight": 30, "tests": [check("p1")]},
    }
    # 60 + 50*20/100 - (100 - 80)*30/100 = 60 + 10 - 6 = 64
    assert score(config, {"base/b1": 60, "bonus/x1": 50, "penalty/p1": 80}).final_score == 64


def test_final_score_is_clamped_at_100() -> None:
    config = {"base": {"tests": [check("b1")]}, "bonus": {"weight": 50, "tests": [check("x1")]}}
    # 90 + 100*50/100 = 140 -> 100
    assert score(config, {"base/b1": 90, "bonus/x1": 100}).final_score == 100


def test_final_score_is_clamped_at_0() -> None:
    config = {
        "base": {"tests": [check("b1")]},
        "penalty": {"weight": 100, "tests": [check("p1")]},
    }
    # 10 - (100 - 0)*100/100 = -90 -> 0
    assert score(config, {"base/b1": 10, "penalty/p1": 0}).final_score == 0


def test_final_and_node_scores_are_rounded_to_two_decimals() -> None:
    config = {"base": {"tests": [check("t1"), check("t2"), check("t3")]}}
    result = score(config, {"base/t1": 100, "base/t2": 100, "base/t3": 0})
    # 200 / 3 = 66.666... -> 66.67
    assert result.final_score == 66.67
    assert result.children["base"].score == 66.67


def test_score_vector_maps_every_test_path_to_its_score() -> None:
    config = {
        "base": {"subjects": [{"subject_name": "Sum", "tests": [check("t"), check("t")]}]},
        "bonus": {"weight": 10, "tests": [check("t")]},
    }
    scores = {"base/Sum/t": 100, "base/Sum/t#2": 40, "bonus/t": 0}
    assert score_vector(score(config, scores)) == scores


def test_focus_ranks_tests_of_a_mixed_node_by_points_actually_lost() -> None:
    config = {
        "base": {
            "subjects_weight": 40,
            "subjects": [{"subject_name": "S", "tests": [check("s1"), check("s2")]}],
            "tests": [check("t1", 3), check("t2", 1)],
        }
    }
    result = score(config, {"base/S/s1": 0, "base/S/s2": 100, "base/t1": 0, "base/t2": 100})
    # S = 50; tests = (3*0 + 1*100)/4 = 25; base = 0.4*50 + 0.6*25 = 20 + 15 = 35
    # s1 at 100: S = 100 -> 40 + 15 = 55, lost 20
    # t1 at 100: tests = 100 -> 20 + 60 = 80, lost 45
    # s2, t2 already 100: lost 0, ordered by path
    ranking = [(item.path, item.points_lost) for item in focus(result)]
    assert result.final_score == 35
    assert ranking == [("base/t1", 45), ("base/S/s1", 20), ("base/S/s2", 0), ("base/t2", 0)]


def test_focus_respects_the_clamp() -> None:
    config = {
        "base": {"tests": [check("b1"), check("b2")]},
        "penalty": {"weight": 100, "tests": [check("p1")]},
    }
    result = score(config, {"base/b1": 40, "base/b2": 0, "penalty/p1": 0})
    # real: base (40+0)/2 = 20; 20 - 100 = -80 -> 0
    # b1 at 100: base 50; 50 - 100 -> 0, lost 0
    # b2 at 100: base 70; 70 - 100 -> 0, lost 0
    # p1 at 100: 20 - 0 = 20, lost 20
    items = focus(result)
    assert [(item.path, item.points_lost) for item in items] == [
        ("penalty/p1", 20),
        ("base/b1", 0),
        ("base/b2", 0),
    ]
    assert items[0].category == "penalty"
    assert items[0].verdict == "failed"


async def test_run_tests_turns_a_crashing_test_function_into_an_error_verdict() -> None:
    tree = build_tree({"base": {"tests": [check("a"), check("b")]}}, ["input_output"])
    runner = FakeRunner(RuntimeError("sandbox exploded"), ran())
    outcomes = await run_tests(tree, context(runner))
    assert outcomes["base/a"].verdict == "error"
    assert outcomes["base/a"].score == 0
    assert "not in your code" in outcomes["base/a"].message
    # The failure of one test does not stop the others.
    assert outcomes["base/b"].verdict == "passed"


@pytest.mark.parametrize(
    "lost",
    [
        SandboxLost("no live lease 'x'", "LeaseNotFound"),
        RpcTimeout("no reply within 31s"),
        RpcUnavailable("the broker is unreachable"),
    ],
)
async def test_a_lost_sandbox_fails_the_step_instead_of_grading_the_student_zero(
    lost: Exception,
) -> None:
    """Issue 15's measurement: after a sandbox restart every later test scored 0 with
    verdict error inside a GRADE step that succeeded. The platform's failure must fail
    the step (not the student's fault), never become a score."""
    tree = build_tree({"base": {"tests": [check("a"), check("b")]}}, ["input_output"])
    with pytest.raises(type(lost)):
        await run_tests(tree, context(FakeRunner(ran(), lost)))


async def test_a_program_test_without_a_sandbox_is_an_error_not_a_failure() -> None:
    tree = build_tree({"base": {"tests": [check("a")]}}, ["input_output"])
    outcome = (await run_tests(tree, context(None)))["base/a"]
    assert outcome.verdict == "error"
    assert "not in your code" in outcome.message


async def test_a_language_missing_from_the_command_map_is_an_error() -> None:
    test = {"name": "dont_fail", "program_command": {"java": "java Solve"}}
    tree = build_tree({"base": {"tests": [test]}}, ["input_output"])
    outcome = (await run_tests(tree, context(FakeRunner(ran()))))["base/dont_fail"]
    assert outcome.verdict == "error"
    assert "'python'" in outcome.message


async def test_grade_runs_and_scores_with_the_outcome_details() -> None:
    test = {"name": "sum", "type": "expect_output", "inputs": [1, 2], "expected_output": "3"}
    tree = build_tree({"base": {"tests": [test, check("runs")]}}, ["input_output"])
    runner = FakeRunner(ran(stdout="4\n"), ran(exit_code=1, verdict=Verdict.RUNTIME_ERROR))
    result = await grade(tree, context(runner))
    first, second = result.children["base"].tests
    assert result.final_score == 0
    assert (first.verdict, first.first_diff_line, first.expected, first.actual) == (
        "failed",
        1,
        "3",
        "4\n",
    )
    assert first.parameters == {"inputs": [1, 2], "expected_output": "3"}
    assert second.verdict == "runtime_error"


def test_a_test_without_an_outcome_scores_zero_as_an_error() -> None:
    tree = build_tree({"base": {"tests": [check("a"), check("b")]}}, ["input_output"])
    result = score_tree(tree, {"base/a": scored(100)})
    assert result.final_score == 50
    assert result.children["base"].tests[1].verdict == "error"


@pytest.mark.parametrize("bad_score", [-1, 100.5])
def test_an_outcome_score_outside_0_to_100_is_refused(bad_score: float) -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        scored(bad_score)


async def test_precomputed_outcomes_are_used_instead_of_running_the_test() -> None:
    from shared.grading.criteria import build_tree
    from shared.grading.ports import GradeContext
    from shared.grading.scoring import grade
    from shared.grading.templates.base import TestOutcome

    criteria = {"base": {"tests": [{"name": "expect_output", "expected_output": "1"}]}}
    tree = build_tree(criteria, ["input_output"])
    path = tree.tests()[0].path
    outcome = TestOutcome(score=40, verdict="failed", message="from an earlier step")
    carried = TestOutcome.model_validate_json(outcome.model_dump_json())
    # no runner at all: running the test would give an "error" verdict, not 40
    result = await grade(tree, GradeContext("python", {}, None), {path: carried})
    assert result.final_score == 40.0
    assert result.children["base"].tests[0].message == "from an earlier step"
