"""Pure tracker logic: from the recorded step results of one attempt, what the
pipeline's state is and what `pipeline_execution` says (the reference shape)."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from contracts.handover import FeedbackOutput, GradeHandOver
from contracts.messages import ExportPayload, StepResult, Submitter
from contracts.steps import PipelineStatus, StepName, StepStatus, SubmissionStatus
from shared.execution import ordered, pipeline_execution, public_json


class Decision(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class AttemptState:
    plan: list[StepName]
    results: list[StepResult]
    finished: bool
    language: str = ""
    locale: str = "en"
    submitter: Submitter = field(default_factory=Submitter)
    username: str = ""
    export_url: str | None = None  # the config's webhook, when it exports

    def running_step(self) -> StepName | None:
        """The first planned step with no result yet: the one running (or queued) now."""
        done = {result.step for result in self.results}
        return next((step for step in self.plan if step not in done), None)


def decide(state: AttemptState) -> Decision:
    if any(result.status is StepStatus.FAIL for result in state.results):
        return Decision.FAILED
    done = {result.step for result in state.results}
    return Decision.SUCCEEDED if set(state.plan) <= done else Decision.RUNNING


def first_failure(state: AttemptState) -> StepResult | None:
    failed = [r for r in ordered(state.plan, state.results) if r.status is StepStatus.FAIL]
    return failed[0] if failed else None


def output_of(results: list[StepResult], step: StepName) -> dict[str, Any]:
    return next((r.output for r in results if r.step is step), {})


@dataclass(frozen=True)
class FinalRecord:
    status: SubmissionStatus
    final_score: float | None
    result_tree: dict[str, Any] | None
    feedback: str | None
    pipeline_execution: dict[str, Any]  # the public shape, as stored and served
    failed_at_step: StepName | None


def export_payload(
    state: AttemptState, submission_id: int, attempt: int, record: FinalRecord
) -> ExportPayload:
    """What the webhook receives: the outcome as decided, and who it is for."""
    return ExportPayload(
        **state.submitter.model_dump(),
        submission_id=submission_id,
        attempt=attempt,
        username=state.username,
        status=record.status,
        final_score=record.final_score,
        feedback=record.feedback,
        result_tree=record.result_tree,
        pipeline_execution=record.pipeline_execution,
    )


def final_record(
    state: AttemptState, status: PipelineStatus, feedback: str | None = None
) -> FinalRecord:
    succeeded = status is PipelineStatus.SUCCESS
    graded = output_of(state.results, StepName.GRADE)
    grade = GradeHandOver.model_validate(graded) if graded and succeeded else None
    written = output_of(state.results, StepName.FEEDBACK)
    execution = pipeline_execution(state.plan, state.results, status)
    return FinalRecord(
        status=SubmissionStatus.COMPLETED if succeeded else SubmissionStatus.FAILED,
        final_score=0.0 if grade is None else grade.final_score,
        result_tree=None if grade is None else grade.result_tree.model_dump(mode="json"),
        feedback=(FeedbackOutput.model_validate(written).feedback if written else None) or feedback,
        pipeline_execution=public_json(execution),
        failed_at_step=execution.failed_at_step,
    )
