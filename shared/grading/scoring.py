"""Running a criteria tree's tests and turning their outcomes into scores.

A node scores the weighted mean of its children; when it has both, its subjects share
`subjects_weight`% and its tests the rest. The final score is
    clamp(0, 100, base + bonus * bonus.weight/100 - (100 - penalty) * penalty.weight/100)
rounded to 2 decimals; a missing bonus adds nothing and a missing penalty takes nothing.
A penalty test scores 100 when nothing is violated.

Node scores in the ResultTree are rounded to 2 decimals for display; the final score and
the focus ranking are computed from the unrounded test scores.
"""

from collections.abc import Mapping

from contracts.results import FocusItem, NodeResult, ResultTree, TestResult
from shared.errors import PlatformFailure
from shared.grading.criteria import CriteriaNode, CriteriaTree, TestNode
from shared.grading.messages import say, say_in
from shared.grading.ports import GradeContext
from shared.grading.templates.base import TestOutcome
from shared.i18n import DEFAULT_LOCALE

_NO_OVERRIDES: Mapping[str, float] = {}


async def run_tests(
    tree: CriteriaTree, ctx: GradeContext, precomputed: Mapping[str, TestOutcome] | None = None
) -> dict[str, TestOutcome]:
    """Every test's outcome by path, run one after another in tree order. Tests whose
    outcome an earlier step already computed (`precomputed`, by path) are not run again."""
    done = precomputed or {}
    return {
        test.path: done[test.path] if test.path in done else await _run_test(test, ctx)
        for test in tree.tests()
    }


async def grade(
    tree: CriteriaTree, ctx: GradeContext, precomputed: Mapping[str, TestOutcome] | None = None
) -> ResultTree:
    return score_tree(tree, await run_tests(tree, ctx, precomputed), ctx.locale)


def score_tree(
    tree: CriteriaTree, outcomes: Mapping[str, TestOutcome], locale: str = DEFAULT_LOCALE
) -> ResultTree:
    """The scored result tree; a test missing from `outcomes` counts as an "error",
    explained to the student in `locale`."""
    not_run = TestOutcome(score=0, verdict="error", message=say_in(locale, "scoring.not_run"))
    every = {test.path: outcomes.get(test.path, not_run) for test in tree.tests()}
    children = {name: _node_result(node, every) for name, node in tree.categories.items()}
    return ResultTree(final_score=round(final_score(children), 2), children=children)


def score_vector(result: ResultTree) -> dict[str, float]:
    return {test.path: test.score for _, test in result.tests_by_category()}


def focus(result: ResultTree) -> list[FocusItem]:
    """Every test, ranked by the points it cost: the final score it would give at 100,
    minus the real one (so the clamp and mixed nodes are accounted for). Tests that cost
    nothing are listed too, with 0; ties are ordered by path."""
    real = final_score(result.children)
    items = [
        FocusItem(
            path=test.path,
            name=test.name,
            category=category,
            score=test.score,
            verdict=test.verdict,
            points_lost=_points_lost(result, test, real),
        )
        for category, test in result.tests_by_category()
    ]
    return sorted(items, key=lambda item: (-item.points_lost, item.path))


def final_score(
    children: Mapping[str, NodeResult], overrides: Mapping[str, float] = _NO_OVERRIDES
) -> float:
    """The unrounded final score, with the test scores in `overrides` (path -> score)."""
    score = node_score(children["base"], overrides)
    if bonus := children.get("bonus"):
        score += node_score(bonus, overrides) * bonus.weight / 100
    if penalty := children.get("penalty"):
        score -= (100 - node_score(penalty, overrides)) * penalty.weight / 100
    return min(100.0, max(0.0, score))


def node_score(node: NodeResult, overrides: Mapping[str, float] = _NO_OVERRIDES) -> float:
    """The unrounded score of `node` from its tests' scores (and `overrides`)."""
    tests = _weighted_mean([(t.weight, overrides.get(t.path, t.score)) for t in node.tests])
    subjects = _weighted_mean([(s.weight, node_score(s, overrides)) for s in node.subjects])
    if not node.subjects:
        return tests
    if not node.tests:
        return subjects
    # build_tree always sets subjects_weight on a mixed node; an even split is the
    # least surprising reading of a hand-made tree that lacks it.
    share = 50.0 if node.subjects_weight is None else node.subjects_weight
    return (share * subjects + (100 - share) * tests) / 100


async def _run_test(test: TestNode, ctx: GradeContext) -> TestOutcome:
    try:
        return await test.function.run(ctx, test.params)
    except PlatformFailure:  # the step fails: a lost sandbox must not grade the student 0
        raise
    except Exception as error:  # a broken test function must not stop the other tests
        return TestOutcome(score=0, verdict="error", message=_grader_failed(ctx, error))


def _grader_failed(ctx: GradeContext, error: Exception) -> str:
    failed = say(ctx, "scoring.grader_failed", error=f"{type(error).__name__}: {error}")
    return f"{failed} {say(ctx, 'common.not_the_students_fault')}"


def _weighted_mean(weighted_scores: list[tuple[float, float]]) -> float:
    if not weighted_scores:
        return 0.0
    total_weight = sum(weight for weight, _ in weighted_scores)
    if total_weight == 0:
        return sum(score for _, score in weighted_scores) / len(weighted_scores)
    return sum(weight * score for weight, score in weighted_scores) / total_weight


def _node_result(node: CriteriaNode, outcomes: Mapping[str, TestOutcome]) -> NodeResult:
    result = NodeResult(
        kind=node.kind,
        name=node.name,
        path=node.path,
        weight=node.weight,
        score=0,
        subjects_weight=node.subjects_weight,
        subjects=[_node_result(subject, outcomes) for subject in node.subjects],
        tests=[_test_result(test, outcomes[test.path]) for test in node.tests],
    )
    return result.model_copy(update={"score": round(node_score(result), 2)})


def _test_result(test: TestNode, outcome: TestOutcome) -> TestResult:
    return TestResult(
        name=test.name,
        type=test.type,
        path=test.path,
        weight=test.weight,
        score=outcome.score,
        verdict=outcome.verdict,
        message=outcome.message,
        parameters=test.parameters,
        time_ms=outcome.time_ms,
        memory_kb=outcome.memory_kb,
        measured=outcome.measured,
        expected=outcome.expected,
        actual=outcome.actual,
        first_diff_line=outcome.first_diff_line,
    )


def _points_lost(result: ResultTree, test: TestResult, real_final: float) -> float:
    # Raising a score never lowers the final score; max() only absorbs float noise.
    gained = final_score(result.children, {test.path: 100.0}) - real_final
    return round(max(0.0, gained), 2)
