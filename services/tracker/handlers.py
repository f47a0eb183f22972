"""Tracker handlers.

Consumes: submission.accepted.v1, step.completed.v1 (every step's result),
          feedback.failure_rendered.v1, submission.cancel_requested.v1
Publishes: submission.status.v1 (status exchange), feedback.failure_requested.v1,
           sandbox.release.v1 (at every terminal state)

State is decided from what is stored, under a lock on the attempt, so a redelivered or
duplicated message changes nothing; publishing happens after the commit and is
harmless to repeat.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

from contracts.messages import (
    Envelope,
    ExportRequested,
    FailureFeedbackRendered,
    FailureFeedbackRequest,
    SandboxRelease,
    StatusEvent,
    StepResult,
    SubmissionAccepted,
    envelope,
)
from contracts.steps import PipelineStatus, StepName, StepStatus, SubmissionStatus
from services.tracker.logic import (
    AttemptState,
    Decision,
    FinalRecord,
    decide,
    export_payload,
    final_record,
    first_failure,
)
from services.tracker.ports import AttemptStore, AttemptTx
from shared.execution import pipeline_execution, public_json
from shared.messaging.topology import (
    EXPORT_REQUESTED_KEY,
    FAILURE_FEEDBACK_KEY,
    SANDBOX_RELEASE_KEY,
    Topology,
    status_key,
)
from shared.pipeline import internal_error, to_result


class Publisher(Protocol):
    async def publish(self, envelope: Envelope, routing_key: str) -> None: ...
    async def publish_status(self, envelope: Envelope, routing_key: str) -> None: ...


# Ends of an attempt nobody graded to the end: nothing to deliver to an LMS.
UNGRADED = (SubmissionStatus.SUPERSEDED, SubmissionStatus.CANCELLED)


@dataclass
class Tracker:
    store: AttemptStore
    bus: Publisher
    topology: Topology

    async def on_accepted(self, message: Envelope) -> None:
        # From the message alone: `queued` must not wait behind the first steps' results.
        submitter = message.payload(SubmissionAccepted).submitter
        queued = StatusEvent(
            **submitter.model_dump(), attempt=message.attempt, status=SubmissionStatus.QUEUED
        )
        await self._status(message, queued)
        for older in await self.store.open_before(message.submission_id, message.attempt):
            await self.supersede(message.submission_id, older)

    async def supersede(self, submission_id: int, attempt: int) -> None:
        """An attempt a regrade replaced before it ended: `superseded`, its sandbox
        released, its remaining steps skipped; not exported, no failure text asked."""
        await self._end_unfinished(submission_id, attempt, SubmissionStatus.SUPERSEDED)

    async def on_cancel(self, message: Envelope) -> None:
        """Course staff stopped the attempt: `cancelled`, as a superseded one ends."""
        await self._end_unfinished(
            message.submission_id, message.attempt, SubmissionStatus.CANCELLED
        )

    async def _end_unfinished(
        self, submission_id: int, attempt: int, status: SubmissionStatus
    ) -> None:
        """End an attempt nobody graded to the end: the status, its sandbox released, the
        steps still to come skipped (their results only join the record)."""
        cause = envelope(StatusEvent(status=status), submission_id=submission_id, attempt=attempt)
        async with self.store.attempt(submission_id, attempt) as tx:
            state = await tx.state()
            if state.finished:
                return
            record = final_record(state, PipelineStatus(status.value))
            await self._finish(tx, cause, dataclasses.replace(record, status=status), state)

    async def on_step_completed(self, message: Envelope) -> None:
        result = message.payload(StepResult)
        async with self.store.attempt(message.submission_id, message.attempt) as tx:
            recorded = await tx.record(result, str(message.message_id))
            state = await tx.state()
            if state.finished:
                if recorded:
                    await _complete_the_record(tx, state)
                return
            decision = decide(state)
            if decision is Decision.SUCCEEDED:
                await self._finish(tx, message, final_record(state, PipelineStatus.SUCCESS), state)
        if decision is Decision.FAILED and result.status is StepStatus.FAIL:
            await self._request_failure_feedback(message, result, state)
        elif decision is Decision.RUNNING:
            step = state.running_step()
            running = _event(state, message, status=SubmissionStatus.RUNNING, step=step)
            await self._status(message, running)

    async def on_failure_feedback(self, message: Envelope) -> None:
        rendered = message.payload(FailureFeedbackRendered)
        async with self.store.attempt(message.submission_id, message.attempt) as tx:
            state = await tx.state()
            if state.finished:
                await tx.set_feedback_if_missing(rendered.feedback)
                return
            record = final_record(state, PipelineStatus.FAILED, feedback=rendered.feedback)
            await self._finish(tx, message, record, state)

    async def interrupt(self, submission_id: int, attempt: int) -> None:
        """A pipeline with no progress for too long ends: FAILED at its failed step when
        only the failure text never came, else INTERRUPTED at the step it stalled in."""
        cause = envelope(
            StatusEvent(status=SubmissionStatus.FAILED),
            submission_id=submission_id,
            attempt=attempt,
        )
        async with self.store.attempt(submission_id, attempt) as tx:
            state = await tx.state()
            if state.finished:
                return
            failed = first_failure(state)
            status = PipelineStatus.FAILED if failed else PipelineStatus.INTERRUPTED
            await self._finish(tx, cause, final_record(state, status), state)
        if failed is None:
            stalled = _stalled_step(state)
            failed = to_result(
                stalled, internal_error(stalled, TimeoutError()), state.plan, cause.time
            )
        await self._request_failure_feedback(cause, failed, state)

    async def _finish(
        self, tx: AttemptTx, cause: Envelope, record: FinalRecord, state: AttemptState
    ) -> None:
        """Finish the attempt, and in the same transaction queue (outbox) its final status
        event and the sandbox release: a crash after the commit cannot lose them."""
        await tx.finish(record)
        event = _event(
            state,
            cause,
            status=record.status,
            final_score=record.final_score,
            failed_at_step=record.failed_at_step,
        )
        status = cause.caused(event)
        await tx.enqueue(self.topology.status_exchange, status_key(event.status.value), status)
        if StepName.SANDBOX in state.plan:
            release = cause.caused(SandboxRelease())
            await tx.enqueue(self.topology.pipeline_exchange, SANDBOX_RELEASE_KEY, release)
        exported = record.status not in UNGRADED
        if state.export_url is not None and exported:  # completed or failed alike
            await self._queue_export(tx, cause, record, state, state.export_url)

    async def _queue_export(
        self, tx: AttemptTx, cause: Envelope, record: FinalRecord, state: AttemptState, url: str
    ) -> None:
        await tx.start_export(url)
        payload = export_payload(state, cause.submission_id, cause.attempt, record)
        export = ExportRequested(url=url, payload=payload)
        request = cause.caused(export, work_key=export.work_key)
        await tx.enqueue(self.topology.pipeline_exchange, EXPORT_REQUESTED_KEY, request)

    async def _request_failure_feedback(
        self, cause: Envelope, failed: StepResult, state: AttemptState
    ) -> None:
        request = FailureFeedbackRequest(
            failed=failed, locale=state.locale, language=state.language
        )
        await self.bus.publish(cause.caused(request), FAILURE_FEEDBACK_KEY)

    async def _status(self, cause: Envelope, event: StatusEvent) -> None:
        message = cause.caused(event, step=event.step)
        await self.bus.publish_status(message, status_key(event.status.value))


def _event(state: AttemptState, cause: Envelope, **fields: Any) -> StatusEvent:
    """A status event carrying who and what it is about, for dashboards to filter by."""
    return StatusEvent(**state.submitter.model_dump(), attempt=cause.attempt, **fields)


async def _complete_the_record(tx: AttemptTx, state: AttemptState) -> None:
    """A step result that arrived after the attempt ended (its message was retried
    while the failure ended the run) joins the record; the outcome stays as decided."""
    status = await tx.finished_status()
    if status is not None:
        await tx.set_execution(public_json(pipeline_execution(state.plan, state.results, status)))


def _stalled_step(state: AttemptState) -> StepName:
    done = {result.step for result in state.results}
    return next((step for step in state.plan if step not in done), state.plan[-1])
