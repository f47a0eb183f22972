"""Intake's service layer: accepting a submission (checks, the first two steps, the
outbox messages) through one unit of work. It raises domain errors (logic.py), never
HTTP ones: handlers.py maps them to HTTP in one place."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.api import ExternalResultIn
from contracts.config import MAX_DB_ID, GradingConfig, Locale
from contracts.messages import (
    ExportPayload,
    ExportRequested,
    StatusEvent,
    StepRequest,
    SubmissionAccepted,
    SubmissionInfo,
    Submitter,
    envelope,
    utcnow,
)
from contracts.results import PipelineExecution
from contracts.sandbox import FileRef, Manifest
from contracts.steps import PipelineStatus, StepName, StepStatus, SubmissionStatus
from services.intake.adapters.postgres import (
    IntakeRepository,
    IntakeUnitOfWork,
    NewSubmission,
    Outgoing,
)
from services.intake.adapters.runner_jobs import NewJob
from services.intake.logic import (
    Conflict,
    FileLimits,
    FirstSteps,
    Forbidden,
    InvalidInput,
    NotFound,
    checked_files,
    first_steps,
)
from shared.auth import Principal
from shared.messaging.topology import (
    EXPORT_REQUESTED_KEY,
    TRACKER_ACCEPTED_KEY,
    Topology,
    result_key,
    status_key,
    step_key,
)
from shared.pipeline import RUNNER_STEPS, StepOutcome, first_work_step, runner_steps, to_result


class SubmissionFields(BaseModel):
    """What every submission names, whether its files come as JSON or as a zip."""

    model_config = ConfigDict(extra="forbid")

    grading_config_id: int = Field(ge=1, le=MAX_DB_ID)
    # Required, as by the reference: an LMS needs them to file the grade.
    external_user_id: str = Field(min_length=1, max_length=200)
    username: str = Field(min_length=1, max_length=200)
    language: str
    locale: Locale | None = None


class SubmissionIn(SubmissionFields):
    """The JSON body of POST /api/v1/submissions: the files as path -> text."""

    submission_files: dict[str, str] = Field(default_factory=dict)

    def files(self) -> dict[str, bytes]:
        return {path: text.encode() for path, text in self.submission_files.items()}


@dataclass(frozen=True)
class IdempotencyKey:
    """An Idempotency-Key header, and the hash of the request it came with."""

    token_id: int
    key: str
    request_hash: str

    @classmethod
    def of(
        cls, caller: Principal, key: str, body: SubmissionIn, files: dict[str, bytes]
    ) -> "IdempotencyKey":
        """The same fields and files hash the same, however the JSON was written."""
        fields = body.model_dump(mode="json", exclude={"submission_files"})
        digests = {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
        canonical = json.dumps([fields, digests], sort_keys=True).encode()
        return cls(caller.token_id, key, hashlib.sha256(canonical).hexdigest())


def external_result_key(caller: Principal, key: str, result: ExternalResultIn) -> IdempotencyKey:
    """An external result's Idempotency-Key: the same result hashes the same."""
    canonical = json.dumps(result.model_dump(mode="json"), sort_keys=True).encode()
    return IdempotencyKey(caller.token_id, key, hashlib.sha256(canonical).hexdigest())


class _KeyTaken(Exception):
    """Rolls back a submission whose Idempotency-Key another request already holds."""


async def accept_once(
    body: SubmissionIn,
    raw: dict[str, bytes],
    repo: IntakeRepository,
    limits: FileLimits,
    topology: Topology,
    caller: Principal,
    key: IdempotencyKey | None,
) -> int:
    """Accept the submission; with a key, a retry of the same request within 24 h
    answers the first submission and creates nothing (another request: 422)."""
    if key is None:
        return await accept_submission(body, raw, repo, limits, topology, caller)
    for _ in range(2):  # the holder may have rolled back meanwhile: then claim it again
        first = await repo.keyed_submission(key.token_id, key.key)
        if first is not None:
            return _replayed(first, key)
        try:
            return await accept_submission(body, raw, repo, limits, topology, caller, key)
        except _KeyTaken:
            continue
    raise Conflict("this Idempotency-Key is in use by a request still being accepted")


def _replayed(first: tuple[int, str], key: IdempotencyKey) -> int:
    submission_id, request_hash = first
    if request_hash != key.request_hash:
        raise InvalidInput(
            [
                {
                    "loc": ["header", "Idempotency-Key"],
                    "msg": "already used with a different request in the last 24 hours",
                }
            ],
            at_root=True,
        )
    return submission_id


class WebhookSubmissionIn(SubmissionIn):
    """POST /api/v1/webhooks/submissions: the fields of POST /api/v1/submissions, with
    the files inline (`submission_files`) or as a base64 zip (`archive_base64`)."""

    archive_base64: str | None = None


async def accept_submission(
    body: SubmissionIn,
    raw: dict[str, bytes],
    repo: IntakeRepository,
    limits: FileLimits,
    topology: Topology,
    caller: Principal | None = None,
    key: IdempotencyKey | None = None,
    delivery: tuple[str, str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> int:
    config = await repo.get_config(body.grading_config_id)
    if config is None:
        raise _field_error(
            "grading_config_id", f"no grading config with id {body.grading_config_id}"
        )
    if caller is not None:
        check_assignment(caller, config.external_assignment_id)
    if body.language not in config.languages:
        raise _field_error(
            "language",
            f"{body.language!r} is not one of this assignment's languages {config.languages}",
        )
    files = checked_files(raw, limits)
    first = first_steps(config)
    new = NewSubmission(
        config=config,
        external_user_id=body.external_user_id,
        username=body.username,
        language=body.language,
        locale=body.locale or config.locale,
        files=files,
        plan=first.plan,
        created_by=None if caller is None else caller.token_id,
        metadata=metadata,
    )
    async with repo.unit_of_work() as unit:
        manifest = await unit.put_files(files)
        submission_id = await unit.add_submission(new, manifest)
        if key is not None and not await unit.claim_key(
            key.token_id, key.key, key.request_hash, submission_id
        ):
            raise _KeyTaken  # nothing of this request is kept
        if delivery is not None and not await unit.claim_delivery(*delivery, submission_id):
            raise _KeyTaken
        await start_attempt(unit, submission_id, manifest, new, first, topology)
    return submission_id


def check_assignment(caller: Principal, external_assignment_id: str) -> None:
    if not caller.sees_assignment(external_assignment_id):
        raise Forbidden(f"this token is not granted assignment {external_assignment_id!r}")


def check_sees_submission(caller: Principal, view: dict[str, Any]) -> None:
    """Instructors see their assignments' submissions; integrations only their own. One
    they may not see is not found: a 403 would confirm that the id exists."""
    hidden = not caller.sees_assignment(view["external_assignment_id"]) or (
        caller.sees_only_its_own and view["created_by"] != caller.token_id
    )
    if hidden:
        raise NotFound(f"no submission with id {view['id']}")


async def visible_submission(
    submission_id: int, repo: IntakeRepository, who: Principal
) -> dict[str, Any]:
    """The submission's read view, when `who` may see it; 404 otherwise."""
    view = await repo.submission_view(submission_id)
    if view is None:
        raise NotFound(f"no submission with id {submission_id}")
    check_sees_submission(who, view)
    return view


def _field_error(field: str, msg: str) -> InvalidInput:
    return InvalidInput([{"loc": [field], "msg": msg}])


def outgoing(
    submission_id: int,
    manifest: Manifest,
    new: NewSubmission,
    first: FirstSteps,
    topology: Topology,
) -> Outgoing:
    """accepted -> LOAD_TEMPLATE result -> BUILD_TREE result -> the next step's work."""
    now = utcnow()
    ids: dict[str, Any] = {"submission_id": submission_id, "attempt": new.attempt}
    exchange = topology.pipeline_exchange
    accepted = _accepted(new, first, now)
    messages: Outgoing = [(exchange, TRACKER_ACCEPTED_KEY, envelope(accepted, **ids))]
    for step, outcome in (
        (StepName.LOAD_TEMPLATE, first.load_template),
        (StepName.BUILD_TREE, first.build_tree),
    ):
        if outcome is not None:
            result = to_result(step, outcome, first.plan, now)
            messages.append((exchange, result_key(step), envelope(result, step=step, **ids)))
    following = first_work_step(first.plan) if _both_passed(first) else None
    if following is not None and not _for_a_runner(new.config, following):
        work = StepRequest(
            plan=first.plan, config=new.config, submission=_info(submission_id, manifest, new)
        )
        messages.append((exchange, step_key(following), envelope(work, step=following, **ids)))
    return messages


def _for_a_runner(config: GradingConfig, step: StepName) -> bool:
    return config.execution.mode == "runner" and step in RUNNER_STEPS


def runner_job(
    submission_id: int, manifest: Manifest, new: NewSubmission, first: FirstSteps
) -> NewJob | None:
    """A runner-mode attempt's SANDBOX..FOCUS, as one job a pull runner claims; None
    when the services run it (service mode, or a plan that ended at intake)."""
    following = first_work_step(first.plan) if _both_passed(first) else None
    if following is None or not _for_a_runner(new.config, following):
        return None
    request = StepRequest(
        plan=first.plan, config=new.config, submission=_info(submission_id, manifest, new)
    )
    return NewJob(
        submission_id=submission_id,
        attempt=new.attempt,
        labels=new.config.execution.labels,
        steps=runner_steps(first.plan),
        request=request,
        timeout_s=new.config.execution.timeout_s,
    )


async def start_attempt(
    unit: IntakeUnitOfWork,
    submission_id: int,
    manifest: Manifest,
    new: NewSubmission,
    first: FirstSteps,
    topology: Topology,
) -> None:
    """In the accepting transaction: the messages that start the attempt, and its runner
    job when a pull runner runs its sandbox steps."""
    await unit.add_messages(outgoing(submission_id, manifest, new, first, topology))
    if new.attempt > 1:  # a regrade: the older attempts' runner jobs stop
        await unit.stop_older_jobs(submission_id, new.attempt)
    job = runner_job(submission_id, manifest, new, first)
    if job is not None:
        await unit.add_job(job)


def _accepted(new: NewSubmission, first: FirstSteps, now: datetime) -> SubmissionAccepted:
    submitter = Submitter(
        external_assignment_id=new.config.external_assignment_id,
        grading_config_id=new.config.id,
        external_user_id=new.external_user_id,
    )
    return SubmissionAccepted(
        plan=first.plan,
        config_id=new.config.id,
        language=new.language,
        locale=new.locale,
        accepted_at=now,
        submitter=submitter,
    )


def _both_passed(first: FirstSteps) -> bool:
    outcomes: list[StepOutcome | None] = [first.load_template, first.build_tree]
    return all(o is not None and o.status is StepStatus.SUCCESS for o in outcomes)


def _info(submission_id: int, manifest: Manifest, new: NewSubmission) -> SubmissionInfo:
    return SubmissionInfo(
        id=submission_id,
        attempt=new.attempt,
        language=new.language,
        username=new.username,
        external_user_id=new.external_user_id,
        locale=new.locale,
        manifest=manifest,
    )


async def export_again(
    submission_id: int, repo: IntakeRepository, topology: Topology, caller: Principal
) -> None:
    """Deliver the latest attempt's result to its webhook once more (after a receiver
    refused it, or gave up): the delivery is pending again, the grade untouched."""
    view = await repo.submission_view(submission_id)
    if view is None:
        raise NotFound(f"no submission with id {submission_id}")
    check_sees_submission(caller, view)
    if view["export_url"] is None:
        raise Conflict("this submission's config exports nowhere (no export_webhook_url)")
    if view["status"] not in (SubmissionStatus.COMPLETED, SubmissionStatus.FAILED):
        raise Conflict(
            f"attempt {view['attempt']} is {view['status']}: it is delivered when it ends"
        )
    ids = {"submission_id": submission_id, "attempt": view["attempt"]}
    async with repo.unit_of_work() as unit:
        round_ = await unit.export_again(submission_id, view["attempt"])
        if round_ is None:
            raise Conflict("a delivery of this attempt is pending: wait for its outcome")
        payload = _export_payload(view)
        request = ExportRequested(url=view["export_url"], payload=payload, round=round_)
        message = envelope(request, **ids, work_key=request.work_key)
        await unit.add_messages([(topology.pipeline_exchange, EXPORT_REQUESTED_KEY, message)])


def _export_payload(view: dict[str, Any]) -> ExportPayload:
    return ExportPayload(
        submission_id=view["id"],
        attempt=view["attempt"],
        external_assignment_id=view["external_assignment_id"],
        grading_config_id=view["grading_config_id"],
        external_user_id=view["external_user_id"],
        username=view["username"],
        status=view["status"],
        final_score=view["final_score"],
        feedback=view["feedback"],
        result_tree=view["result_tree"],
        pipeline_execution=view["pipeline_execution"],
    )


async def accept_external_result(
    result: ExternalResultIn,
    repo: IntakeRepository,
    topology: Topology,
    caller: Principal,
    key: IdempotencyKey | None = None,
) -> int:
    """Store a result graded elsewhere, once per Idempotency-Key (a retried POST answers
    the first one's submission)."""
    if key is None:
        return await _store_external_result(result, repo, topology, caller, None)
    for _ in range(2):  # the holder may have rolled back meanwhile: then claim it again
        first = await repo.keyed_submission(key.token_id, key.key)
        if first is not None:
            return _replayed(first, key)
        try:
            return await _store_external_result(result, repo, topology, caller, key)
        except _KeyTaken:
            continue
    raise Conflict("this Idempotency-Key is in use by a request still being accepted")


async def _store_external_result(
    result: ExternalResultIn,
    repo: IntakeRepository,
    topology: Topology,
    caller: Principal,
    key: IdempotencyKey | None,
) -> int:
    """A finished submission with its record, announced as the tracker announces the
    ones graded here."""
    config = await repo.get_config(result.grading_config_id)
    if config is None:
        raise _field_error(
            "grading_config_id", f"no grading config with id {result.grading_config_id}"
        )
    check_assignment(caller, config.external_assignment_id)
    if result.language not in config.languages:
        raise _field_error(
            "language",
            f"{result.language!r} is not one of this assignment's languages {config.languages}",
        )
    record = _external_record(result)
    async with repo.unit_of_work() as unit:
        submission_id = await unit.add_external_result(result, record, caller.token_id)
        if key is not None and not await unit.claim_key(
            key.token_id, key.key, key.request_hash, submission_id
        ):
            raise _KeyTaken  # nothing of this request is kept
        event = StatusEvent(
            external_assignment_id=config.external_assignment_id,
            grading_config_id=config.id,
            external_user_id=result.external_user_id,
            status=SubmissionStatus(result.status),
            final_score=result.final_score,
        )
        message = envelope(event, submission_id=submission_id, attempt=1)
        await unit.add_messages([(topology.status_exchange, status_key(result.status), message)])
    return submission_id


def _external_record(result: ExternalResultIn) -> dict[str, Any]:
    """The sender's pipeline_execution, or the least one that says how it ended."""
    if result.pipeline_execution is not None:
        return result.pipeline_execution.model_dump(mode="json")
    status = PipelineStatus.SUCCESS if result.status == "completed" else PipelineStatus.FAILED
    record = PipelineExecution(
        status=status,
        failed_at_step=None,
        total_steps_planned=0,
        steps_completed=0,
        execution_time_ms=result.execution_time_ms,
        steps=[],
    )
    return record.model_dump(mode="json")


# The same regrade asked again within this long answers the attempt it made.
REGRADE_REPEAT_S = 60


async def regrade(
    submission_id: int,
    use_latest_config: bool,
    repo: IntakeRepository,
    topology: Topology,
    caller: Principal,
) -> int:
    """Grade the same files again as a new attempt (the old ones are kept); returns the
    attempt. Against the same config version, or the assignment's newest one."""
    view = await repo.submission_view(submission_id)
    if view is None:
        raise NotFound(f"no submission with id {submission_id}")
    check_sees_submission(caller, view)
    config = await _regrade_config(view, use_latest_config, repo)
    async with repo.unit_of_work() as unit:
        return await _new_attempt(unit, submission_id, config, f"regrade:{config.id}", topology)


async def _new_attempt(
    unit: IntakeUnitOfWork,
    submission_id: int,
    config: GradingConfig,
    requested: str,
    topology: Topology,
) -> int:
    """The next attempt of a submission, in the caller's transaction: its row and the
    messages that start it; the attempt this same request made within a minute, if any."""
    latest = await unit.latest_attempt(submission_id)
    if not latest["plan"]:
        raise Conflict("this submission was graded elsewhere: there is nothing to run")
    if _repeated(latest, requested):
        return int(latest["attempt"])
    new = _next_attempt(latest, config)
    await unit.add_attempt(new, submission_id, requested)
    manifest = {path: FileRef(**ref) for path, ref in latest["manifest"].items()}
    first = first_steps(config)
    await start_attempt(unit, submission_id, manifest, new, first, topology)
    return new.attempt


async def regrade_next_waiting(repo: IntakeRepository, topology: Topology) -> bool:
    """Take one submission waiting in the bulk-regrade lane and start its attempt;
    False when none waits. Several intakes share the lane (SKIP LOCKED)."""
    async with repo.unit_of_work() as unit:
        item = await unit.take_waiting_item()
        if item is None:
            return False
        basis = await repo.regrade_basis(item["submission_id"])
        if basis is None:  # submissions are never deleted
            return True
        config = await _regrade_config(basis, item["use_latest"], repo)
        requested = f"batch:{item['batch_id']}"
        attempt = await _new_attempt(unit, item["submission_id"], config, requested, topology)
        await unit.set_item_attempt(item["batch_id"], item["submission_id"], attempt)
    return True


async def _regrade_config(
    view: dict[str, Any], use_latest: bool, repo: IntakeRepository
) -> GradingConfig:
    found = (
        await repo.latest_config(view["external_assignment_id"])
        if use_latest
        else await repo.get_config(view["attempt_config_id"])
    )
    if found is None:  # configs are never deleted
        raise NotFound("the submission's grading config is gone")
    return found


def _repeated(latest: dict[str, Any], requested: str) -> bool:
    age = utcnow() - latest["accepted_at"]
    return bool(latest["requested"] == requested and age.total_seconds() < REGRADE_REPEAT_S)


def _next_attempt(latest: dict[str, Any], config: GradingConfig) -> NewSubmission:
    return NewSubmission(
        config=config,
        external_user_id=latest["external_user_id"],
        username=latest["username"],
        language=latest["language"],
        locale=latest["locale"],
        files={},
        plan=first_steps(config).plan,
        created_by=latest["created_by"],
        attempt=latest["attempt"] + 1,
    )


async def accept_delivery(
    body: SubmissionIn,
    raw: dict[str, bytes],
    repo: IntakeRepository,
    limits: FileLimits,
    topology: Topology,
    delivery: tuple[str, str],
    metadata: dict[str, Any] | None = None,
) -> int:
    """A submission that came by webhook: a replay of the same delivery answers the
    submission it made and creates nothing."""
    for _ in range(2):  # a concurrent copy may roll back: then claim it again
        made = await repo.delivered_submission(*delivery)
        if made is not None:
            return made
        try:
            return await accept_submission(
                body, raw, repo, limits, topology, delivery=delivery, metadata=metadata
            )
        except _KeyTaken:
            continue
    raise Conflict("this delivery is being accepted by another request")
