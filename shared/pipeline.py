"""The chain itself, as pure functions: what a step produced, and what runs next.

Every step service and the in-process runner use these, so the three ways of running
the pipeline cannot drift apart.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.messages import StepRequest, StepResult, utcnow
from contracts.steps import EXECUTION_ORDER, StepName, StepStatus


@dataclass(frozen=True)
class StepOutcome:
    """What a step function returns: public record (`output`) and hand-over (`context`)."""

    status: StepStatus
    message: str
    error_details: dict[str, Any] | None = None
    output: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def success(cls, message: str, **kwargs: Any) -> "StepOutcome":
        return cls(StepStatus.SUCCESS, message, **kwargs)

    @classmethod
    def failure(cls, message: str, error_details: dict[str, Any]) -> "StepOutcome":
        return cls(StepStatus.FAIL, message, error_details=error_details)


StepFunction = Callable[[StepRequest, StepName], Awaitable[StepOutcome]]


@dataclass(frozen=True)
class PlanFlags:
    requires_sandbox: bool = True
    has_ai_tests: bool = False
    has_static_analysis: bool = False
    include_feedback: bool = True
    export: bool = False


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
    if not flags.export:
        skipped.add(StepName.EXPORT)
    return [step for step in EXECUTION_ORDER if step not in skipped]


def next_step(plan: list[StepName], step: StepName) -> StepName | None:
    position = plan.index(step)
    return plan[position + 1] if position + 1 < len(plan) else None


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
    context = dict(request.context)
    if outcome.context:
        context[step.value] = outcome.context
    return request.model_copy(update={"context": context})


def internal_error(step: StepName, error: BaseException) -> StepOutcome:
    """A step that crashed for good: not the student's fault, and said so."""
    return StepOutcome.failure(
        f"{step.value} failed with an internal error",
        {"error_type": "internal_error", "phase": step.value, "detail": type(error).__name__},
    )


async def run_step(
    function: StepFunction, request: StepRequest, step: StepName
) -> tuple[StepResult, StepOutcome]:
    """The in-process mode's way to run a step: a crash is a failed step, as on the bus."""
    started = utcnow()
    try:
        outcome = await function(request, step)
    except Exception as error:
        outcome = internal_error(step, error)
    return to_result(step, outcome, request.plan, started), outcome
