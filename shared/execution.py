"""Assembling `pipeline_execution` (reference/pipeline-execution-tracking.txt) from
step results: the tracker at the end of a run, intake for a run in progress, and the
in-process mode all use this one function."""

from datetime import datetime
from typing import Any

from contracts.messages import StepResult, utcnow
from contracts.results import PipelineExecution, StepRecord
from contracts.steps import PipelineStatus, StepName, StepStatus


def ordered(plan: list[StepName], results: list[StepResult]) -> list[StepResult]:
    """Results in plan order; steps outside the plan (never expected) go last."""
    rank = {step: index for index, step in enumerate(plan)}
    return sorted(results, key=lambda result: (rank.get(result.step, len(plan)), result.started_at))


def pipeline_execution(
    plan: list[StepName],
    results: list[StepResult],
    status: PipelineStatus,
    running_since: datetime | None = None,
) -> PipelineExecution:
    """The record of a run; while it runs (`running_since` its start), the time so far."""
    steps = ordered(plan, results)
    failed = next((r.step for r in steps if r.status is StepStatus.FAIL), None)
    return PipelineExecution(
        status=status,
        failed_at_step=failed,
        total_steps_planned=len(plan),
        steps_completed=len(steps),
        execution_time_ms=_span_ms(steps) if running_since is None else _ms_since(running_since),
        steps=[
            StepRecord(
                name=r.step,
                status=r.status,
                message=r.message,
                error_details=None if r.error_details is None else r.error_details.model_dump(),
            )
            for r in steps
        ],
    )


def tests_of(result_tree: dict[str, Any]) -> list[dict[str, Any]]:
    """Every test of a result tree (its JSON form), category by category, subjects in order."""
    found: list[dict[str, Any]] = []
    nodes = list(result_tree.get("children", {}).values())
    while nodes:
        node = nodes.pop(0)
        found += node.get("tests", [])
        nodes += node.get("subjects", [])
    return found


def _span_ms(steps: list[StepResult]) -> int:
    if not steps:
        return 0
    start: datetime = min(r.started_at for r in steps)
    end: datetime = max(r.finished_at for r in steps)
    return int((end - start).total_seconds() * 1000)


def _ms_since(start: datetime) -> int:
    return max(0, int((utcnow() - start).total_seconds() * 1000))


def public_json(execution: PipelineExecution) -> dict[str, Any]:
    """The API shape: `error_details` appears only on steps that have it (StepRecord)."""
    return execution.model_dump(mode="json")
