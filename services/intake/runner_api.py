"""The pull-runner API (docs/runners.md) and the routes course staff use about runners.

/api/v1/runners (admins): register a runner (its token shown once), list, revoke.
/api/v1/runner/... (a runner's token, `Authorization: Bearer`): list and claim jobs,
download a job's code and test data, heartbeat, append to the log, report steps,
complete or give back. Every call about a job carries the claim's `X-Job-Token`; a
claim that no longer holds the job gets 409 and must stop (fencing).
/api/v1/submissions/{id}/cancel and /logs: stopping an attempt, reading runner logs.
"""

import asyncio
import codecs
import contextlib
import dataclasses
import io
import json
import re
import tarfile
from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from contracts.messages import CancelRequest, StepResult, envelope
from contracts.runner import (
    CancelAccepted,
    ClaimedJob,
    ClaimLog,
    HeartbeatIn,
    HeartbeatOut,
    JobCompleteIn,
    JobLogs,
    JobRequestIn,
    JobSummary,
    JobView,
    LogAppended,
    RunnerCreated,
    RunnerIn,
    RunnerView,
    StepReported,
    SubmissionLogs,
)
from services.intake.adapters.runner_jobs import (
    HeldJob,
    JobNotFound,
    LogOffsetMismatch,
    LostClaim,
    RunnerIdentity,
    RunnerStore,
)
from services.intake.deps import (
    DbId,
    LimitsDep,
    RepoDep,
    TopologyDep,
    allowed,
    bounded_body,
    declared_length,
    json_body_of,
)
from services.intake.logic import (
    ClaimNoLongerHeld,
    Conflict,
    Forbidden,
    InvalidInput,
    MalformedRequest,
    NotFound,
    RangeNotSatisfiable,
)
from services.intake.openapi import json_body, problem_responses
from services.intake.runners import check_step, complete, job_request, record_step
from services.intake.submissions import visible_submission
from shared.auth import Principal, Scope
from shared.messaging.topology import TRACKER_CANCEL_KEY
from shared.setup_config import parse_setup_config

# How often a waiting long poll looks for a job, and a log follower for new text.
POLL_S = 0.5
LOG_CHUNK_LIMIT = 1024 * 1024
_CONTENT_RANGE = re.compile(r"^(?:bytes )?(\d+)-(\d+)(?:/(?:\d+|\*))?$")
JobToken = Annotated[str, Header(alias="X-Job-Token", min_length=1, max_length=200)]

runners = APIRouter(prefix="/api/v1/runners", tags=["runners"])
runner_api = APIRouter(prefix="/api/v1/runner", tags=["runner API"])
staff = APIRouter(prefix="/api/v1/submissions", tags=["submissions"])


def runner_store(request: Request) -> RunnerStore:
    return request.app.state.runners  # type: ignore[no-any-return]


StoreDep = Annotated[RunnerStore, Depends(runner_store)]


async def this_runner(
    store: StoreDep, who: Annotated[Principal, allowed(Scope.RUNNER_API)]
) -> RunnerIdentity:
    """The runner a token belongs to: who it is comes from the token, never the request."""
    identity = await store.identity(who.token_id)
    if identity is None:
        raise Forbidden("this runner token belongs to no registered runner")
    return identity


RunnerDep = Annotated[RunnerIdentity, Depends(this_runner)]


@contextlib.asynccontextmanager
async def _held(
    store: RunnerStore, runner: RunnerIdentity, job_id: int, token: str, ended_too: bool = False
) -> AsyncIterator[HeldJob]:
    try:
        async with store.held(runner, job_id, token, ended_too) as held:
            yield held
    except JobNotFound as error:
        raise NotFound(str(error)) from None
    except LostClaim as error:
        raise ClaimNoLongerHeld(f"{error}; stop working on job {job_id}") from None


# --- registering runners (admins) ------------------------------------------------------


@runners.post(
    "", status_code=201, response_model=RunnerCreated, responses=problem_responses(401, 403, 422)
)
async def register_runner(
    body: RunnerIn, store: StoreDep, who: Annotated[Principal, allowed(Scope.RUNNERS)]
) -> RunnerCreated:
    """A runner that may claim jobs whose labels it has; its token is in this answer only."""
    row, token = await store.register(body.name, body.labels)
    return RunnerCreated(**_runner_view(row, store), token=token.value)


@runners.get("", response_model=list[RunnerView], responses=problem_responses(401, 403))
async def list_runners(
    store: StoreDep, who: Annotated[Principal, allowed(Scope.RUNNERS)]
) -> list[RunnerView]:
    return [RunnerView(**_runner_view(row, store)) for row in await store.runners()]


@runners.delete(
    "/{runner_id}", response_model=RunnerView, responses=problem_responses(401, 403, 404, 422)
)
async def revoke_runner(
    runner_id: DbId, store: StoreDep, who: Annotated[Principal, allowed(Scope.RUNNERS)]
) -> RunnerView:
    """Revoked at once: its next call is a 401; a job it held is claimed again later."""
    row = await store.revoke(runner_id)
    if row is None:
        raise NotFound(f"no live runner with id {runner_id}")
    return RunnerView(**_runner_view(row, store))


def _runner_view(row: dict[str, Any], store: RunnerStore) -> dict[str, Any]:
    beat = row["last_heartbeat_at"]
    online = beat is not None and row["revoked_at"] is None and store.heard_lately(beat)
    return {**row, "online": online}


# --- the runner API ----------------------------------------------------------------------


@runner_api.get("/jobs", response_model=list[JobSummary], responses=problem_responses(401, 403))
async def list_jobs(
    store: StoreDep, runner: RunnerDep, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> list[JobSummary]:
    """Jobs this runner's labels can serve, oldest first."""
    return [JobSummary(**row) for row in await store.claimable(runner, limit)]


@runner_api.post(
    "/jobs/request",
    response_model=ClaimedJob,
    responses={204: {"description": "no job within wait_s"}, **problem_responses(401, 403, 422)},
)
async def request_job(body: JobRequestIn, store: StoreDep, runner: RunnerDep) -> Any:
    """Long poll: claim the oldest job this runner can serve, waiting up to `wait_s`."""
    runner = _narrowed(runner, body.labels)
    await store.beat(runner, None)
    deadline = asyncio.get_running_loop().time() + body.wait_s
    while (claimed := await store.claim(runner, None)) is None:
        if asyncio.get_running_loop().time() >= deadline:
            return Response(status_code=204)
        await asyncio.sleep(POLL_S)
    return _claimed(*claimed, store.policy.lease_s)


@runner_api.post(
    "/jobs/{job_id}/claim", response_model=ClaimedJob, responses=problem_responses(401, 403, 409)
)
async def claim_job(job_id: DbId, store: StoreDep, runner: RunnerDep) -> ClaimedJob:
    """Claim this job; of two runners claiming it at once exactly one gets it."""
    claimed = await store.claim(runner, job_id)
    if claimed is None:
        if await store.job(job_id) is None:
            raise NotFound(f"no runner job with id {job_id}")
        raise Conflict(f"job {job_id} is not claimable: claimed, ended, or not for your labels")
    return _claimed(*claimed, store.policy.lease_s)


def _narrowed(runner: RunnerIdentity, labels: list[str] | None) -> RunnerIdentity:
    """The runner serving fewer labels than it was registered with, never more."""
    if labels is None:
        return runner
    unknown = sorted(set(labels) - set(runner.labels))
    if unknown:
        msg = f"labels {unknown} were not given to this runner (it has {runner.labels})"
        raise InvalidInput([{"loc": ["labels"], "msg": msg}])
    return dataclasses.replace(runner, labels=labels)


def _claimed(job: dict[str, Any], token: str, lease_s: float) -> ClaimedJob:
    return ClaimedJob(
        id=job["id"],
        submission_id=job["submission_id"],
        attempt=job["attempt"],
        claim=job["claims"],
        job_token=token,
        lease_expires_at=job["lease_expires_at"],
        lease_s=lease_s,
        steps=job["steps"],
        request=job_request(job),
    )


TAR_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "a tar archive, streamed",
        "content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@runner_api.get(
    "/jobs/{job_id}/code",
    response_class=StreamingResponse,
    responses={**TAR_RESPONSE, **problem_responses(401, 403, 404, 409)},
)
async def download_code(
    job_id: DbId, token: JobToken, store: StoreDep, runner: RunnerDep, repo: RepoDep
) -> StreamingResponse:
    """The submission's files as a tar archive, streamed one file at a time."""
    async with _held(store, runner, job_id, token) as held:
        manifest = job_request(held.row).submission.manifest

    async def files() -> AsyncIterator[tuple[str, bytes]]:
        for path, ref in sorted(manifest.items()):
            contents = await repo.blobs.get_many([ref.sha256])
            yield path, contents[ref.sha256]

    return _tar_response(files(), f"job-{job_id}-code.tar")


@runner_api.get(
    "/jobs/{job_id}/testdata",
    response_class=StreamingResponse,
    responses={**TAR_RESPONSE, **problem_responses(401, 403, 404, 409)},
)
async def download_testdata(
    job_id: DbId, token: JobToken, store: StoreDep, runner: RunnerDep
) -> StreamingResponse:
    """The config's assets (setup_config `assets`) as a tar archive."""
    async with _held(store, runner, job_id, token) as held:
        setup = parse_setup_config(job_request(held.row).config.setup_config)

    async def files() -> AsyncIterator[tuple[str, bytes]]:
        for asset in setup.assets:
            yield asset.path, asset.content.encode()

    return _tar_response(files(), f"job-{job_id}-testdata.tar")


def _tar_response(files: AsyncIterator[tuple[str, bytes]], name: str) -> StreamingResponse:
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(tar_stream(files), media_type="application/x-tar", headers=headers)


class _Drain(io.RawIOBase):
    """Where tarfile writes: taken away piece by piece as the response streams."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.pieces.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        taken, self.pieces = b"".join(self.pieces), []
        return taken


async def tar_stream(files: AsyncIterator[tuple[str, bytes]]) -> AsyncIterator[bytes]:
    drain = _Drain()
    archive = tarfile.open(fileobj=drain, mode="w|")  # noqa: SIM115 - closed below, streamed
    async for path, content in files:
        info = tarfile.TarInfo(path)
        info.size, info.mode = len(content), 0o644
        archive.addfile(info, io.BytesIO(content))
        yield drain.take()
    archive.close()
    yield drain.take()


@runner_api.post(
    "/heartbeat", response_model=HeartbeatOut, responses=problem_responses(401, 403, 404, 409)
)
async def heartbeat(
    body: HeartbeatIn,
    store: StoreDep,
    runner: RunnerDep,
    token: Annotated[str | None, Header(alias="X-Job-Token", max_length=200)] = None,
) -> HeartbeatOut:
    """The runner is alive; with a job, its lease is extended and a cancel is told."""
    await store.beat(runner, body.version)
    if body.job_id is None:
        return HeartbeatOut(cancel=False)
    if token is None:
        raise InvalidInput([{"loc": ["header", "X-Job-Token"], "msg": "required with job_id"}])
    async with _held(store, runner, body.job_id, token) as held:
        if not held.running:
            return HeartbeatOut(cancel=held.row["state"] == "cancelled")
        expires = await held.extend_lease()
        return HeartbeatOut(cancel=held.row["cancel_requested"], lease_expires_at=expires)


@runner_api.patch(
    "/jobs/{job_id}/log",
    response_model=LogAppended,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 416),
)
async def append_log(
    job_id: DbId,
    request: Request,
    token: JobToken,
    store: StoreDep,
    runner: RunnerDep,
    content_range: Annotated[str, Header(alias="Content-Range")],
) -> LogAppended:
    """Append log text at `Content-Range: bytes start-end`; a retried chunk changes
    nothing; a chunk not starting at the stored length is a 416 naming that length."""
    start, end = _range(content_range)
    declared_length(request, LOG_CHUNK_LIMIT)
    chunk = await bounded_body(request, LOG_CHUNK_LIMIT)
    if end - start + 1 != len(chunk):
        raise MalformedRequest(
            f"Content-Range says {end - start + 1} bytes, the body has {len(chunk)}"
        )
    async with _held(store, runner, job_id, token) as held:
        try:
            return LogAppended(length=await held.append_log(start, chunk))
        except LogOffsetMismatch as error:
            raise RangeNotSatisfiable(error.length) from None


def _range(header: str) -> tuple[int, int]:
    found = _CONTENT_RANGE.match(header.strip())
    if found is None or int(found[2]) < int(found[1]):
        raise MalformedRequest("Content-Range must be `bytes START-END` (END inclusive)")
    return int(found[1]), int(found[2])


@runner_api.post(
    "/jobs/{job_id}/steps",
    response_model=StepReported,
    responses=problem_responses(401, 403, 404, 409, 422),
    openapi_extra=json_body("StepResult"),
)
async def report_step(
    job_id: DbId,
    request: Request,
    token: JobToken,
    store: StoreDep,
    runner: RunnerDep,
    limits: LimitsDep,
    topology: TopologyDep,
) -> StepReported:
    """One step's result, validated; reported again, it changes nothing."""
    result = await json_body_of(request, limits.max_request_bytes, StepResult)
    async with _held(store, runner, job_id, token) as held:
        check_step(held.row, result)
        return StepReported(recorded=await record_step(held, result, topology))


@runner_api.put(
    "/jobs/{job_id}/complete",
    response_model=JobView,
    responses=problem_responses(401, 403, 404, 409, 422),
    openapi_extra=json_body("JobCompleteIn"),
)
async def complete_job(
    job_id: DbId,
    request: Request,
    token: JobToken,
    store: StoreDep,
    runner: RunnerDep,
    limits: LimitsDep,
    topology: TopologyDep,
) -> JobView:
    """End the job; after success the services run what follows (FEEDBACK). Idempotent."""
    body = await json_body_of(request, limits.max_request_bytes, JobCompleteIn)
    async with _held(store, runner, job_id, token, ended_too=True) as held:
        await complete(held, body, topology)
    return await _job_view(store, job_id)


@runner_api.post(
    "/jobs/{job_id}/release",
    response_model=JobView,
    responses=problem_responses(401, 403, 404, 409),
)
async def release_job(job_id: DbId, token: JobToken, store: StoreDep, runner: RunnerDep) -> JobView:
    """Give the job back unfinished (the runner is stopping): another runner claims it."""
    async with _held(store, runner, job_id, token, ended_too=True) as held:
        if held.running:
            await held.give_back()
    return await _job_view(store, job_id)


async def _job_view(store: RunnerStore, job_id: int) -> JobView:
    job = await store.job(job_id)
    if job is None:
        raise NotFound(f"no runner job with id {job_id}")
    return JobView(**job)


# --- course staff ------------------------------------------------------------------------


@staff.post(
    "/{submission_id}/cancel",
    status_code=202,
    response_model=CancelAccepted,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def cancel_submission(
    submission_id: DbId,
    repo: RepoDep,
    store: StoreDep,
    topology: TopologyDep,
    who: Annotated[Principal, allowed(Scope.CANCEL)],
) -> CancelAccepted:
    """Stop the latest attempt: it ends `cancelled`, its sandbox released; a runner
    running it hears it at its next heartbeat and stops the program."""
    view = await visible_submission(submission_id, repo, who)
    if view["status"] not in ("queued", "running"):
        raise Conflict(f"submission {submission_id} already ended ({view['status']})")
    attempt = int(view["attempt"])
    message = envelope(
        CancelRequest(requested_by=who.name), submission_id=submission_id, attempt=attempt
    )
    async with repo.unit_of_work() as unit:
        await unit.add_messages([(topology.pipeline_exchange, TRACKER_CANCEL_KEY, message)])
    await store.cancel(submission_id, attempt)
    return CancelAccepted(submission_id=submission_id, attempt=attempt)


@staff.get(
    "/{submission_id}/logs",
    response_model=SubmissionLogs,
    responses={
        200: {
            "description": "with follow=true, server-sent events: `log` {job_id, claim, text}"
            " as the latest job's log grows, then `end` {job_id, state}",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 403, 404, 422),
    },
)
async def submission_logs(
    submission_id: DbId,
    repo: RepoDep,
    store: StoreDep,
    who: Annotated[Principal, allowed(Scope.SUBMISSIONS_READ)],
    follow: bool = False,
) -> Any:
    """Every runner job's log, attempt by attempt and claim by claim; with `follow=true`
    a server-sent-events stream of the latest job's log as it grows."""
    await visible_submission(submission_id, repo, who)  # 404 unless it may be seen
    rows = await store.logs(submission_id)
    if follow:
        return StreamingResponse(_follow(store, rows), media_type="text/event-stream")
    return SubmissionLogs(submission_id=submission_id, jobs=_jobs_of(rows))


def _jobs_of(rows: Iterable[dict[str, Any]]) -> list[JobLogs]:
    jobs: dict[int, JobLogs] = {}
    for row in rows:
        job = jobs.setdefault(
            row["job_id"],
            JobLogs(job_id=row["job_id"], attempt=row["attempt"], state=row["state"], claims=[]),
        )
        if row["claim"] is not None:
            text = bytes(row["content"]).decode("utf-8", errors="replace")
            job.claims.append(ClaimLog(**row, log=text))
    return list(jobs.values())


async def _follow(store: RunnerStore, rows: list[dict[str, Any]]) -> AsyncIterator[str]:
    """The latest job's log from its start: each new piece as a `log` event, then `end`."""
    if not rows:
        yield _event("end", {"state": None})
        return
    job_id = rows[-1]["job_id"]
    claim, offset, decoder = None, 0, _utf8()
    while True:
        job = await store.job(job_id)
        if job is None:
            return
        if job["claims"] != claim:  # claimed again: the new claim's log from its start
            claim, offset, decoder = job["claims"], 0, _utf8()
        seen = await store.log_since(job_id, claim, offset) if claim else None
        if seen is not None and seen[0]:
            offset += len(seen[0])
            text = decoder.decode(seen[0])  # a character split between chunks waits
            yield _event("log", {"job_id": job_id, "claim": claim, "text": text})
        elif job["state"] not in ("pending", "running"):
            yield _event("end", {"job_id": job_id, "state": job["state"]})
            return
        else:
            await asyncio.sleep(POLL_S)


def _utf8() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
