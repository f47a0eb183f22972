"""What a pull runner's reports turn into: the same messages a step service would send.

A step result goes to the tracker as `step.completed.v1`; at the end of a job that went
well, the next step's work (FEEDBACK) goes to its service. Each message has an id made
from the job and the step, and each step is recorded once, so a retried report sends
nothing twice. A job whose runners are lost for good ends with a failed step that says
it was not the student's fault (`runner_lost`).
"""

import asyncio
import uuid
from typing import Any

import structlog

from contracts.failures import InternalError, RunnerLost
from contracts.messages import Envelope, StepRequest, StepResult, envelope, utcnow
from contracts.runner import JobCompleteIn
from contracts.steps import StepName
from services.intake.adapters.runner_jobs import HeldJob, RunnerStore
from services.intake.logic import Conflict, InvalidInput
from shared.db.outbox import Outgoing
from shared.messaging.topology import Topology, result_key, step_key
from shared.pipeline import StepOutcome, next_step, to_result

log = structlog.get_logger()
_MESSAGE_IDS = uuid.UUID("6f1c1e4a-52c1-4a43-9a35-8f0f4c1b7e21")
RUNNER_LOST_MESSAGE = (
    "the machine grading this submission stopped answering; this is not a problem with "
    "your submission"
)


def _message_id(job_id: int, what: str) -> uuid.UUID:
    """The same id for the same report of the same job: the tracker's inbox drops a copy."""
    return uuid.uuid5(_MESSAGE_IDS, f"runner-job:{job_id}:{what}")


def _job_message(
    job: dict[str, Any], payload: StepResult | StepRequest, step: StepName, what: str
) -> Envelope:
    message = envelope(
        payload, submission_id=job["submission_id"], attempt=job["attempt"], step=step
    )
    return message.model_copy(update={"message_id": _message_id(job["id"], what)})


def job_request(job: dict[str, Any]) -> StepRequest:
    return StepRequest.model_validate(job["request"])


def check_step(job: dict[str, Any], result: StepResult) -> None:
    """A step this job runs, of this attempt's plan; 422 naming the field if not."""
    steps = [StepName(step) for step in job["steps"]]
    if result.step not in steps:
        raise InvalidInput([{"loc": ["step"], "msg": f"this job runs {[s.value for s in steps]}"}])
    if result.plan != job_request(job).plan:
        raise InvalidInput([{"loc": ["plan"], "msg": "not the plan of this job's attempt"}])


async def record_step(held: HeldJob, result: StepResult, topology: Topology) -> bool:
    """The result for the tracker, once per step of the job."""
    message = _job_message(held.row, result, result.step, f"step:{result.step.value}")
    outgoing = Outgoing(topology.pipeline_exchange, result_key(result.step), message)
    return await held.record_step(result.step, result.status.value, [outgoing])


async def complete(held: HeldJob, body: JobCompleteIn, topology: Topology) -> None:
    """End the job as the runner says; once ended, the same call changes nothing. A job
    staff cancelled (or a regrade superseded) ends cancelled, sending nothing on."""
    if held.row["state"] != "running":
        if held.row["state"] == body.outcome or held.row["cancel_requested"]:
            return
        raise Conflict(f"this job already ended as {held.row['state']}")
    if body.last_result is not None:
        check_step(held.row, body.last_result)
        if await record_step(held, body.last_result, topology):
            reported = [*held.row["reported_steps"], body.last_result.step.value]
            held.row["reported_steps"] = reported
    if held.row["cancel_requested"]:
        await held.finish("cancelled", [])
        return
    outputs: list[Outgoing] = []
    if body.outcome == "succeeded":
        outputs = _after_success(held.row, body.next_request, topology)
    elif body.outcome == "failed":
        await _fail_unreported(
            held, topology, InternalError(phase="runner", detail=body.detail[:500])
        )
    await held.finish(body.outcome, outputs)


def _after_success(
    job: dict[str, Any], following: StepRequest | None, topology: Topology
) -> list[Outgoing]:
    """Every step reported, none failed: the next step's work, when the plan goes on."""
    steps = [StepName(step) for step in job["steps"]]
    missing = [step.value for step in steps if step.value not in job["reported_steps"]]
    if missing:
        raise Conflict(f"steps not reported yet: {missing}")
    request = job_request(job)
    after = next_step(request.plan, steps[-1])
    if after is None:
        if following is not None:
            raise InvalidInput([{"loc": ["next_request"], "msg": "the plan ends with this job"}])
        return []
    if following is None:
        raise InvalidInput([{"loc": ["next_request"], "msg": f"required: {after.value} follows"}])
    if following.plan != request.plan or following.submission != request.submission:
        raise InvalidInput([{"loc": ["next_request"], "msg": "not this job's attempt"}])
    message = _job_message(job, following, after, f"next:{after.value}")
    return [Outgoing(topology.pipeline_exchange, step_key(after), message)]


async def _fail_unreported(
    held: HeldJob, topology: Topology, reason: InternalError | RunnerLost
) -> None:
    """The first step not reported fails with `reason`, unless a step failed already."""
    job = held.row
    if await held.a_step_failed():
        return
    pending = [StepName(s) for s in job["steps"] if s not in job["reported_steps"]]
    if not pending:  # graded, but the hand-over to what follows never came: it fails
        following = next_step(job_request(job).plan, StepName(job["steps"][-1]))
        if following is None:
            return  # the plan ended with the job: the tracker has every result
        pending = [following]
    step = pending[0]
    message = (
        RUNNER_LOST_MESSAGE
        if isinstance(reason, RunnerLost)
        else f"{step.value} failed on the runner"
    )
    outcome = StepOutcome.failure(message, reason)
    result = to_result(step, outcome, job_request(job).plan, utcnow())
    await record_step(held, result, topology)


async def expire_once(store: RunnerStore, topology: Topology) -> int:
    """End every job whose runners are lost for good, or that passed its deadline; a
    cancelled one whose runner is gone just ends (the tracker ended its attempt)."""
    async with store.expired() as (connection, jobs):
        for job in jobs:
            held = HeldJob(connection, job, store.policy)
            if job["cancel_requested"]:
                await held.finish("cancelled", [])
                continue
            lost = job["claims"] - job["given_back"]
            reason = RunnerLost(phase="runner", claims=lost, detail=_why_lost(lost, store))
            log.warning("runner job lost", job_id=job["id"], claims=lost)
            await _fail_unreported(held, topology, reason)
            await held.finish("failed", [])
        return len(jobs)


def _why_lost(lost_claims: int, store: RunnerStore) -> str:
    if lost_claims >= store.policy.max_claims:
        return f"its runner stopped answering {lost_claims} times"
    return "it was not graded before its deadline"


async def expire_forever(store: RunnerStore, topology: Topology, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await expire_once(store, topology)
        except Exception:  # tried again next tick; the API keeps working
            log.exception("runner job sweep failed")
