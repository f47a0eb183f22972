"""Hand-made result trees, focus rankings and failed steps for the feedback tests."""

from datetime import UTC, datetime
from typing import Any

from contracts.messages import StepResult
from contracts.results import FocusItem, NodeResult, ResultTree, TestResult
from contracts.steps import StepName, StepStatus


def a_test(name: str, *, verdict: str = "passed", **fields: Any) -> TestResult:
    defaults: dict[str, Any] = {"type": name, "path": f"base.{name}", "weight": 100}
    defaults["score"] = 100 if verdict == "passed" else 0
    return TestResult(name=name, verdict=verdict, **(defaults | fields))


def a_category(name: str, tests: list[TestResult], score: float) -> NodeResult:
    return NodeResult(kind="category", name=name, path=name, weight=100, score=score, tests=tests)


def graded_tree() -> ResultTree:
    """Base: one passed test and two failed ones; a passed bonus; a clean penalty."""
    base = a_category(
        "base",
        [
            a_test("prints_greeting"),
            a_test(
                "adds_numbers",
                verdict="failed",
                message="The sum is wrong.",
                expected="5\n",
                actual="4\n",
            ),
            a_test("handles_empty_input", verdict="time_limit"),
        ],
        score=33.33,
    )
    bonus = a_category("bonus", [a_test("fast_path", path="bonus.fast_path")], score=100)
    penalty = a_category(
        "penalty",
        [a_test("no_global_vars", type="forbidden_pattern", path="penalty.no_global_vars")],
        score=100,
    )
    return ResultTree(final_score=85.5, children={"base": base, "bonus": bonus, "penalty": penalty})


def focus_ranking() -> list[FocusItem]:
    """The time-limited test cost more points than the wrong sum, so focus ranks it first."""
    return [
        _focus("handles_empty_input", verdict="time_limit", points_lost=10),
        _focus("adds_numbers", verdict="failed", points_lost=4.5),
    ]


def _focus(name: str, *, verdict: str, points_lost: float) -> FocusItem:
    return FocusItem(
        path=f"base.{name}",
        name=name,
        category="base",
        score=0,
        verdict=verdict,
        points_lost=points_lost,
    )


def a_failed_step(
    step: StepName = StepName.PRE_FLIGHT, error_details: dict[str, Any] | None = None
) -> StepResult:
    now = datetime(2026, 2, 1, tzinfo=UTC)
    return StepResult(
        step=step,
        status=StepStatus.FAIL,
        message="failed",
        error_details=error_details,
        plan=[step],
        started_at=now,
        finished_at=now,
    )
