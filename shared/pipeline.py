"""The chain itself, as pure functions: what a step produced, and what runs next.

Every step service and the in-process runner use these, so the three ways of running
the pipeline cannot drift apart.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.failures import Failure, InternalError
from contracts.handover import HandOver
from contracts.messages import StepRequest, StepResult, utcnow
from contracts.steps import EXECUTION_ORDER, StepName, StepStatus


@dataclass(frozen=True)
class StepOutcome:
    """What a step function returns: public record (`output`) and what later steps read
    (`context`, one of the typed hand-overs of contracts.handover)."""

    status: StepStatus
    message: str
    error_details: Failure | None = None
    output: dict[str, Any] = field(default_factory=dict)
    context: HandOver | None = None

    @classmethod
    def success(cls, message: str, **kwargs: Any) -> "StepOutcome":
        return cls(StepStatus.SUCCESS, message, **kwargs)

    @classmethod
    def failure(cls, message: str, error_details: Failure) -> "StepOutcome":
        return cls(StepStatus.FAIL, message, error_details=error_details)


StepFunction = Callable[[StepRequest, StepName], Awaitable[StepOutcome]]
# What a service declares once: the steps it runs, each with its function.
StepTable = Mapping[StepName, StepFunction]


@dataclass(frozen=True)
class PlanFlags:
    requires_sandbox: bool = True
    has_ai_tests: bool = False
    has_static_analysis: bool = False
    include_feedback: bool = True


def build_plan(flags: PlanFlags) -> list[StepName]:
    """The steps this assignment runs, in the canonical order."""
    skipped = set()
    if not flags.requires_sandbox:
        skipped |= {StepName.SANDBOX}
    if not flags.has_ai_tests:
        skipped.add(StepName.AI_BATCH)
    if not flags.has_static_analysis:
        skipped.add(StepName.STRUCTURAL_ANALYSIS)
    if not flags.include_feedback:
        skipped.add(StepName.FEEDBACK)
    return [step for step in EXECUTION_ORDER if step not in skipped]


# The steps a pull runner runs for a runner-mode config (SANDBOX..FOCUS): one job.
RUNNER_STEPS = frozenset(
    {
        StepName.SANDBOX,
        StepName.PRE_FLIGHT,
        StepName.AI_BATCH,
        StepName.STRUCTURAL_ANALYSIS,
        StepName.GRADE,
        StepName.FOCUS,
    }
)


def runner_steps(plan: list[StepName]) -> list[StepName]:
    return [step for step in plan if step in RUNNER_STEPS]


def next_step(plan: list[StepName], step: StepName) -> StepName | None:
    position = plan.index(step)
    return plan[position + 1] if position + 1 < len(plan) else None


def first_work_step(plan: list[StepName]) -> StepName | None:
    """The first step a service runs: intake itself does LOAD_TEMPLATE and BUILD_TREE.
    None when the plan ends before (the template did not load)."""
    return next_step(plan, StepName.BUILD_TREE) if StepName.BUILD_TREE in plan else None


def to_result(
    step: StepName, outcome: StepOutcome, plan: list[StepName], started_at: datetime
) -> StepResult:
    return StepResult(
        step=step,
        status=outcome.status,
        message=outcome.message,
        error_details=outcome.error_details,
        output=outcome.output,
        plan=plan,
        started_at=started_at,
        finished_at=utcnow(),
    )


def hand_over(request: StepRequest, step: StepName, outcome: StepOutcome) -> StepRequest:
    """The request for the next step: the same plan, context extended by this step."""
    if outcome.context is None:
        return request
    context = request.context.with_hand_over(step, outcome.context)
    return request.model_copy(update={"context": context})


def internal_error(step: StepName, error: BaseException) -> StepOutcome:
    """A step that crashed for good: not the student's fault, and said so."""
    return StepOutcome.failure(
        f"{step.value} failed with an internal error",
        InternalError(phase=step.value, detail=type(error).__name__),
    )


@dataclass(frozen=True)
class Executed:
    """One step run: its public result, and the next step's work when the chain goes on."""

    result: StepResult
    next_step: StepName | None = None
    next_request: StepRequest | None = None


def chain(
    request: StepRequest, step: StepName, outcome: StepOutcome, started: datetime
) -> Executed:
    """What follows a step's outcome: a failed step or the last one ends the chain."""
    result = to_result(step, outcome, request.plan, started)
    following = next_step(request.plan, step)
    if outcome.status is not StepStatus.SUCCESS or following is None:
        return Executed(result)
    return Executed(result, following, hand_over(request, step, outcome))


async def execute_step(table: StepTable, request: StepRequest, step: StepName) -> Executed:
    """Run one step of a table. A crash propagates: the caller decides to retry or give up."""
    started = utcnow()
    return chain(request, step, await table[step](request, step), started)


async def run_pipeline(
    table: StepTable, request: StepRequest, first: StepName | None
) -> list[StepResult]:
    """Chain the table's steps from `first` in one process; a crash is a failed step."""
    results: list[StepResult] = []
    step: StepName | None = first
    while step is not None:
        try:
            executed = await execute_step(table, request, step)
        except Exception as error:
            executed = chain(request, step, internal_error(step, error), utcnow())
        results.append(executed.result)
        step, request = executed.next_step, executed.next_request or request
    return results
