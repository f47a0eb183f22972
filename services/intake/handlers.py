"""The intake HTTP API (reference web API field names): request in -> service layer ->
response out. The only module of intake that knows HTTP.

POST /api/v1/configs, GET /api/v1/configs/{id}, POST /api/v1/submissions (JSON with
`submission_files`, or multipart with a zip `archive`), GET /api/v1/submissions/{id},
GET /api/v1/templates[/{name}], GET /api/v1/sandbox/metrics, GET /health.
Every error is one `application/problem+json` body (contracts.api.Problem); a 422 names
each wrong field by its JSON path. Domain errors become HTTP here, in `STATUS_OF`.
"""

import asyncio
import base64
import binascii
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
import structlog
from fastapi import APIRouter, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from contracts.api import (
    Accepted,
    AttemptDiff,
    AttemptView,
    ExecuteIn,
    ExecuteOut,
    ExportDelivery,
    ExternalResultIn,
    Health,
    Problem,
    Readiness,
    RegradeAccepted,
    RegradeBatchAccepted,
    RegradeBatchProgress,
    RegradeIn,
    SubmissionPage,
    SubmissionSummary,
    SubmissionView,
    TemplateDetail,
    TemplateSummary,
    TokenCreated,
    TokenIn,
    TokenView,
    WebhookDelivery,
)
from contracts.config import MAX_DB_ID, GradingConfig, GradingConfigIn, GradingConfigUpdate
from contracts.sandbox import SandboxMetrics
from contracts.steps import SubmissionStatus
from services.intake.adapters.postgres import IntakeRepository, SubmissionQuery
from services.intake.adapters.runner_jobs import JobPolicy, RunnerStore
from services.intake.attempts import attempt_diff
from services.intake.deps import (
    DbId,
    Limit,
    LimitsDep,
    Offset,
    RepoDep,
    TokensDep,
    TopologyDep,
    allowed,
    bounded_body,
    declared_length,
    json_body_of,
    parsed,
)
from services.intake.execute import Executor, execute, execute_problems
from services.intake.github import GitHubHook, PushEvent, assignment_for, signature_matches
from services.intake.live import TERMINAL, LiveEvent, StatusFeed, stream
from services.intake.logic import (
    BadWebhookPayload,
    ClaimNoLongerHeld,
    Conflict,
    FileLimits,
    Forbidden,
    IntakeError,
    InvalidInput,
    InvalidSubmission,
    LengthRequired,
    MalformedRequest,
    NotFound,
    RangeNotSatisfiable,
    RequestTooLarge,
    Unauthenticated,
    config_problems,
    files_from_archive,
    webhook_problems,
)
from services.intake.openapi import contract_openapi, json_body, problem_responses, submission_body
from services.intake.ratelimit import RateLimited, RateLimiter
from services.intake.runner_api import runner_api, runners, staff
from services.intake.submissions import (
    IdempotencyKey,
    SubmissionIn,
    WebhookSubmissionIn,
    accept_delivery,
    accept_external_result,
    accept_once,
    check_assignment,
    check_sees_submission,
    export_again,
    external_result_key,
    regrade,
)
from shared.auth import Principal, Role, Scope
from shared.db.tokens import TokenStore
from shared.errors import TransientError
from shared.grading.catalogue import catalogue, template_detail
from shared.grading.errors import UnknownTemplate
from shared.messaging.topology import Topology
from shared.sandbox_client import SandboxCallFailed
from shared.signing import webhook_signer

DEFAULT_JOB_POLICY = JobPolicy(lease_s=30.0, max_claims=3)
PROBLEM_TYPE = "application/problem+json"
RETRY_AFTER_S = "5"
# What a database that is down or restarting raises: a 503, never a 500.
DEPENDENCY_DOWN: tuple[type[Exception], ...] = (
    ConnectionError,  # refused, reset, aborted
    socket.gaierror,
    asyncpg.PostgresConnectionError,  # includes ConnectionDoesNotExistError
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
)
log = structlog.get_logger()

# The one place a domain error becomes an HTTP status (and its problem title).
STATUS_OF: dict[type[Exception], tuple[int, str]] = {
    BadWebhookPayload: (400, "Bad webhook payload"),
    InvalidInput: (422, "Unprocessable input"),
    Unauthenticated: (401, "Unauthenticated"),
    Forbidden: (403, "Forbidden"),
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    RangeNotSatisfiable: (416, "Range not satisfiable"),
    RequestTooLarge: (413, "Request body too large"),
    LengthRequired: (411, "Length required"),
    MalformedRequest: (400, "Malformed request"),
    TransientError: (503, "Service unavailable"),
}


health_router = APIRouter(tags=["health"])
configs = APIRouter(prefix="/api/v1/configs", tags=["configs"])
submissions = APIRouter(prefix="/api/v1/submissions", tags=["submissions"])
templates = APIRouter(prefix="/api/v1/templates", tags=["templates"])
sandbox = APIRouter(prefix="/api/v1/sandbox", tags=["sandbox"])
tokens = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])
events = APIRouter(prefix="/api/v1/events", tags=["events"])
webhooks = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
regrades = APIRouter(prefix="/api/v1/regrades", tags=["regrades"])
execution = APIRouter(prefix="/api/v1/execute", tags=["execute"])


@health_router.get("/health", response_model=Health)
async def get_health() -> Health:
    """Liveness: the process answers (restart it if not)."""
    return Health()


@health_router.get("/ready", response_model=Readiness, responses=problem_responses(503))
async def get_ready(request: Request) -> Readiness:
    """Readiness: the database and the broker answer (send no traffic here if not)."""
    checks: dict[str, bool] = await request.app.state.readiness()
    down = [name for name, up in checks.items() if not up]
    if down:
        raise NotReady(f"not ready: {', '.join(down)} unavailable")
    return Readiness(ready=True, **checks)


@configs.post(
    "",
    status_code=201,
    response_model=GradingConfig,
    responses=problem_responses(400, 413, 422),
    openapi_extra=json_body("GradingConfigIn"),
)
async def create_config(
    request: Request,
    repo: RepoDep,
    limits: LimitsDep,
    who: Annotated[Principal, allowed(Scope.CONFIGS_WRITE)],
) -> GradingConfig:
    body = await json_body_of(request, limits.max_config_bytes, GradingConfigIn)
    check_assignment(who, body.external_assignment_id)
    await _check_config(body, request.app.state.development)
    return await repo.create_config(body)


@configs.get("", response_model=list[GradingConfig], responses=problem_responses(422))
async def list_configs(
    repo: RepoDep,
    who: Annotated[Principal, allowed(Scope.CONFIGS_READ)],
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[GradingConfig]:
    """The newest version of each assignment this token sees, by assignment id."""
    return await repo.latest_configs(limit, offset, who.assignments)


@configs.get("/id/{config_id}", response_model=GradingConfig, responses=problem_responses(404, 422))
async def get_config(
    config_id: DbId, repo: RepoDep, who: Annotated[Principal, allowed(Scope.CONFIGS_READ)]
) -> GradingConfig:
    """One version, by its integer id (what the GitHub Action's external mode reads)."""
    return _seen(who, await repo.get_config(config_id), f"id {config_id}")


@configs.get(
    "/{external_assignment_id}", response_model=GradingConfig, responses=problem_responses(404)
)
async def get_latest_config(
    external_assignment_id: str,
    repo: RepoDep,
    who: Annotated[Principal, allowed(Scope.CONFIGS_READ)],
) -> GradingConfig:
    """The assignment's newest version."""
    found = await repo.latest_config(external_assignment_id)
    return _seen(who, found, f"assignment {external_assignment_id!r}")


@configs.get(
    "/{external_assignment_id}/versions",
    response_model=list[GradingConfig],
    responses=problem_responses(404),
)
async def list_config_versions(
    external_assignment_id: str,
    repo: RepoDep,
    who: Annotated[Principal, allowed(Scope.CONFIGS_READ)],
) -> list[GradingConfig]:
    """Every version of the assignment's config, oldest first (none is ever edited)."""
    check_assignment(who, external_assignment_id)
    versions = await repo.config_versions(external_assignment_id)
    if not versions:
        raise NotFound(f"no grading config for assignment {external_assignment_id!r}")
    return versions


@configs.put(
    "/{config_id}",
    response_model=GradingConfig,
    responses=problem_responses(400, 404, 413, 422),
    openapi_extra=json_body("GradingConfigUpdate"),
)
async def update_config(
    config_id: DbId,
    request: Request,
    repo: RepoDep,
    limits: LimitsDep,
    who: Annotated[Principal, allowed(Scope.CONFIGS_WRITE)],
) -> GradingConfig:
    """A new version: this one with the fields given changed (versions stay as made)."""
    base = _seen(who, await repo.get_config(config_id), f"id {config_id}")
    return await _new_version(request, repo, limits, base)


@configs.put(
    "/external/{external_assignment_id}",
    response_model=GradingConfig,
    responses=problem_responses(400, 404, 413, 422),
    openapi_extra=json_body("GradingConfigUpdate"),
)
async def update_latest_config(
    external_assignment_id: str,
    request: Request,
    repo: RepoDep,
    limits: LimitsDep,
    who: Annotated[Principal, allowed(Scope.CONFIGS_WRITE)],
) -> GradingConfig:
    """A new version of the assignment's newest config, with the fields given changed."""
    found = await repo.latest_config(external_assignment_id)
    base = _seen(who, found, f"assignment {external_assignment_id!r}")
    return await _new_version(request, repo, limits, base)


@configs.post(
    "/{config_id}/regrade",
    status_code=202,
    response_model=RegradeBatchAccepted,
    responses=problem_responses(404, 422),
)
async def regrade_assignment(
    config_id: DbId,
    repo: RepoDep,
    who: Annotated[Principal, allowed(Scope.REGRADE)],
    body: RegradeIn | None = None,
) -> RegradeBatchAccepted:
    """Regrade the latest submission of every student of this config's assignment,
    through a lower-priority lane: new submissions go ahead of it."""
    config = _seen(who, await repo.get_config(config_id), f"id {config_id}")
    use_latest = body is not None and body.config == "latest"
    batch_id, count = await repo.new_batch(config, use_latest, who.token_id)
    return RegradeBatchAccepted(batch_id=batch_id, submissions=count)


@regrades.get(
    "/{batch_id}", response_model=RegradeBatchProgress, responses=problem_responses(404, 422)
)
async def regrade_progress(
    batch_id: DbId, repo: RepoDep, who: Annotated[Principal, allowed(Scope.REGRADE)]
) -> RegradeBatchProgress:
    progress = await repo.batch_progress(batch_id)
    if progress is None or not who.sees_assignment(progress["external_assignment_id"]):
        raise NotFound(f"no regrade batch {batch_id}")
    return RegradeBatchProgress(
        batch_id=batch_id, **{k: v for k, v in progress.items() if k != "id"}
    )


def _seen(who: Principal, config: GradingConfig | None, named: str) -> GradingConfig:
    if config is None:
        raise NotFound(f"no grading config with {named}")
    check_assignment(who, config.external_assignment_id)
    return config


async def _new_version(
    request: Request, repo: IntakeRepository, limits: FileLimits, base: GradingConfig
) -> GradingConfig:
    update = await json_body_of(request, limits.max_config_bytes, GradingConfigUpdate)
    changed = update.model_dump(exclude_unset=True)
    if changed.get("external_assignment_id", base.external_assignment_id) != (
        base.external_assignment_id
    ):
        message = "cannot change: a new version belongs to the same assignment"
        raise InvalidInput([{"loc": ["external_assignment_id"], "msg": message}])
    merged = {**base.model_dump(exclude={"id", "version"}), **changed}
    try:
        config = GradingConfigIn.model_validate(merged)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from error
    await _check_config(config, request.app.state.development)
    return await repo.create_config(config)


async def _check_config(config: GradingConfigIn, development: bool) -> None:
    problems = config_problems(config) + await webhook_problems(config, development)
    if problems:
        raise InvalidInput(problems)


@templates.get("", response_model=list[TemplateSummary])
async def list_templates(
    who: Annotated[Principal, allowed(Scope.TEMPLATES_READ)],
) -> list[dict[str, Any]]:
    return catalogue()


@templates.get("/{name}", response_model=TemplateDetail, responses=problem_responses(404))
async def get_template(
    name: str, who: Annotated[Principal, allowed(Scope.TEMPLATES_READ)]
) -> dict[str, Any]:
    try:
        return template_detail(name)
    except UnknownTemplate as error:
        raise NotFound(str(error)) from error


@sandbox.get("/metrics", response_model=SandboxMetrics, responses=problem_responses(503))
async def get_sandbox_metrics(
    request: Request, who: Annotated[Principal, allowed(Scope.SANDBOX_METRICS)]
) -> SandboxMetrics:
    """Pool size per language, leases in use, waits and reaped leases, from the sandbox."""
    try:
        return await request.app.state.sandbox_metrics()  # type: ignore[no-any-return]
    except TransientError as error:
        raise TransientError(f"the sandbox service did not answer: {error}") from error


@submissions.post(
    "",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(400, 411, 413, 422),
    openapi_extra=submission_body(),
)
async def create_submission(
    request: Request,
    repo: RepoDep,
    limits: LimitsDep,
    bus: TopologyDep,
    who: Annotated[Principal, allowed(Scope.SUBMISSIONS_CREATE)],
) -> Accepted:
    body, files = await _submission_body(request, limits)
    key = _idempotency_key(request, who, body, files)
    return Accepted(id=await accept_once(body, files, repo, limits, bus, who, key))


def _idempotency_key(
    request: Request, who: Principal, body: SubmissionIn, files: dict[str, bytes]
) -> IdempotencyKey | None:
    value = _key_header(request)
    return None if value is None else IdempotencyKey.of(who, value, body, files)


def _key_header(request: Request) -> str | None:
    value = request.headers.get("idempotency-key")
    if value is not None and not 1 <= len(value) <= 255:
        problem = {"loc": ["header", "Idempotency-Key"], "msg": "must be 1 to 255 characters"}
        raise InvalidInput([problem], at_root=True)
    return value


@submissions.post(
    "/external-results",
    status_code=201,
    response_model=SubmissionView,
    responses=problem_responses(400, 403, 413, 422),
    openapi_extra=json_body("ExternalResultIn"),
)
async def create_external_result(
    request: Request,
    repo: RepoDep,
    limits: LimitsDep,
    bus: TopologyDep,
    who: Annotated[Principal, allowed(Scope.EXTERNAL_RESULTS)],
) -> SubmissionView:
    """A result graded elsewhere (the GitHub Action's external mode): stored as a
    finished submission, `submission_metadata` kept as given; answers it as stored."""
    result = await json_body_of(request, limits.max_request_bytes, ExternalResultIn)
    value = _key_header(request)
    key = None if value is None else external_result_key(who, value, result)
    submission_id = await accept_external_result(result, repo, bus, who, key)
    view = await repo.submission_view(submission_id)
    assert view is not None  # just stored, in a committed transaction
    return SubmissionView.model_validate(view)


@submissions.get("", response_model=SubmissionPage, responses=problem_responses(422))
async def list_submissions(
    repo: RepoDep,
    who: Annotated[Principal, allowed(Scope.SUBMISSIONS_READ)],
    external_assignment_id: str | None = None,
    external_user_id: str | None = None,
    status: SubmissionStatus | None = None,
    since: datetime | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> SubmissionPage:
    """Newest first, filtered; pass `next_cursor` back as `cursor` for the next page."""
    query = SubmissionQuery(
        limit=limit,
        external_assignment_id=external_assignment_id,
        external_user_id=external_user_id,
        status=None if status is None else status.value,
        since=since,
        before_id=_cursor_id(cursor),
        **_visible_to(who),
    )
    rows = await repo.submissions(query)
    last = rows[-1]["id"] if len(rows) == limit else None
    return SubmissionPage(
        items=[SubmissionSummary(**row) for row in rows],
        next_cursor=None if last is None else _cursor_of(last),
    )


@submissions.get(
    "/user/{external_user_id}",
    response_model=list[SubmissionSummary],
    responses=problem_responses(422),
)
async def list_user_submissions(
    external_user_id: str,
    repo: RepoDep,
    who: Annotated[Principal, allowed(Scope.SUBMISSIONS_READ)],
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[SubmissionSummary]:
    """One student's submissions, newest first (the reference's route)."""
    query = SubmissionQuery(
        limit=limit, offset=offset, external_user_id=external_user_id, **_visible_to(who)
    )
    return [SubmissionSummary(**row) for row in await repo.submissions(query)]


def _visible_to(who: Principal) -> dict[str, Any]:
    """An instructor lists its granted assignments; an integration its own submissions."""
    return {
        "assignments": None if who.assignments is None else sorted(who.assignments),
        "created_by": who.token_id if who.sees_only_its_own else None,
    }


def _cursor_of(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"before:{last_id}".encode()).decode()


def _cursor_id(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        prefix, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if prefix != "before" or not 1 <= int(number) <= MAX_DB_ID:
            raise ValueError(cursor)
        return int(number)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        problem = {"loc": ["query", "cursor"], "msg": "not a cursor this API gave"}
        raise InvalidInput([problem], at_root=True) from None


@submissions.get(
    "/{submission_id}", response_model=SubmissionView, responses=problem_responses(404, 422)
)
async def get_submission(
    submission_id: DbId,
    repo: RepoDep,
    who: Annotated[Principal, allowed(Scope.SUBMISSIONS_READ)],
) -> SubmissionView:
    return SubmissionView.model_validate(await _visible_submission(submission_id, repo, who))


@submissions.post(
    "/{submission_id}/regrade",
    status_code=202,
    response_model=RegradeAccepted,
    responses=problem_responses(404, 409, 422),
)
async def regrade_submission(
    submission_id: DbId,
    repo: RepoDep,
    bus: TopologyDep,
    who: Annotated[Principal, allowed(Scope.REGRADE)],
    body: RegradeIn | None = None,
) -> RegradeAccepted:
    """The same files graded again as a new attempt; every earlier attempt is kept. The
    same request again within a minute answers the attempt it made."""
    use_latest = body is not None and body.config == "latest"
    attempt = await regrade(submission_id, use_latest, repo, bus, who)
    return RegradeAccepted(id=submission_id, attempt=attempt)


@submissions.get(
    "/{submission_id}/attempts",
    response_model=list[AttemptView],
    responses=problem_responses(404, 422),
)
async def list_attempts(
    submission_id: DbId,
    repo: RepoDep,
    who: Annotated[Principal, allowed(Scope.SUBMISSIONS_READ)],
) -> list[AttemptView]:
    """Every attempt, oldest first, each with its score, record and feedback."""
    await _visible_submission(submission_id, repo, who)
    return [AttemptView(**row) for row in await repo.attempts(submission_id)]


@submissions.get(
    "/{submission_id}/attempts/{attempt}/diff",
    response_model=AttemptDiff,
    responses=problem_responses(404, 422),
)
async def diff_attempts(
    submission_id: DbId,
    attempt: Annotated[int, Path(ge=1, le=2**31 - 1)],
    against: Annotated[int, Query(ge=1, le=2**31 - 1)],
    repo: RepoDep,
    who: Annotated[Principal, allowed(Scope.SUBMISSIONS_READ)],
) -> AttemptDiff:
    """The score change from attempt `against` to `attempt`, and each test that moved."""
    await _visible_submission(submission_id, repo, who)
    by_number = {row["attempt"]: row for row in await repo.attempts(submission_id)}
    for number in (attempt, against):
        if number not in by_number:
            raise NotFound(f"submission {submission_id} has no attempt {number}")
    return attempt_diff(by_number[attempt], by_number[against])


EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `event: status`, `data:` a StatusEvent and its "
        "submission_id, `id:` the event's id (send it back as Last-Event-ID)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=100)]


@submissions.get(
    "/{submission_id}/events",
    response_class=StreamingResponse,
    responses={**EVENT_STREAM, **problem_responses(404, 422, 503)},
)
async def follow_submission(
    submission_id: DbId,
    request: Request,
    repo: RepoDep,
    who: Annotated[Principal, allowed(Scope.SUBMISSIONS_READ)],
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """This submission's status events as they happen; ends after the terminal one."""
    view = await _visible_submission(submission_id, repo, who)
    feed = _live(request)

    def wanted(event: LiveEvent) -> bool:
        return event.submission_id == submission_id

    if view["status"] in TERMINAL and not any(e.terminal for e in feed.missed(wanted, None)):
        return StreamingResponse(_ended(view), media_type="text/event-stream")
    body = stream(feed, wanted, last_event_id, until_terminal=True)
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)


@events.get(
    "",
    response_class=StreamingResponse,
    responses={**EVENT_STREAM, **problem_responses(403, 422, 503)},
)
async def follow_assignment(
    request: Request,
    external_assignment_id: Annotated[str, Query(min_length=1, max_length=200)],
    who: Annotated[Principal, allowed(Scope.SUBMISSIONS_READ)],
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """Every submission of an assignment as it happens, for dashboards; never ends."""
    if who.sees_only_its_own:
        raise Forbidden("an integration follows its own submissions, one at a time")
    check_assignment(who, external_assignment_id)

    def wanted(event: LiveEvent) -> bool:
        return event.external_assignment_id == external_assignment_id

    body = stream(_live(request), wanted, last_event_id, until_terminal=False)
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)


@webhooks.post(
    "/submissions",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(400, 401, 411, 413, 503),
    openapi_extra=json_body("WebhookSubmissionIn"),
)
async def submission_by_webhook(
    request: Request, repo: RepoDep, limits: LimitsDep, bus: TopologyDep
) -> Accepted:
    """A submission an LMS sends, signed per Standard Webhooks (`webhook-id`,
    `webhook-timestamp` within 5 minutes, `webhook-signature`): the signature is its
    credential. A replay (the same `webhook-id`) creates nothing."""
    verifier = request.app.state.webhook_verifier
    if verifier is None:
        raise TransientError("webhooks are not configured here (INTAKE_WEBHOOK_SECRET)")
    declared_length(request, limits.max_request_bytes)
    raw = await bounded_body(request, limits.max_request_bytes)
    try:
        verifier.verify(raw, dict(request.headers), json_parse=False)
    except WebhookVerificationError as error:
        raise Unauthenticated(f"the webhook signature does not verify: {error}") from None
    body, files = await _webhook_submission(raw, limits)
    delivery = ("submissions", request.headers["webhook-id"])
    return Accepted(id=await accept_delivery(body, files, repo, limits, bus, delivery))


@webhooks.post(
    "/github",
    status_code=202,
    response_model=WebhookDelivery,
    responses=problem_responses(400, 401, 411, 413, 503),
)
async def push_from_github(
    request: Request, repo: RepoDep, limits: LimitsDep, bus: TopologyDep
) -> WebhookDelivery:
    """A GitHub `push` (repository or App webhook), signed with X-Hub-Signature-256:
    the pushed commit becomes a submission of the assignment that takes pushes from
    that repository and branch; anything else is acknowledged and ignored."""
    github: GitHubHook | None = request.app.state.github
    if github is None:
        raise TransientError("GitHub pushes are not configured here (INTAKE_GITHUB_SECRET)")
    declared_length(request, limits.max_request_bytes)
    raw = await bounded_body(request, limits.max_request_bytes)
    if not signature_matches(github.secret, raw, request.headers.get("x-hub-signature-256")):
        raise Unauthenticated("X-Hub-Signature-256 does not match this body")
    delivery = request.headers.get("x-github-delivery")
    if not delivery:
        raise BadWebhookPayload([{"loc": ["header", "X-GitHub-Delivery"], "msg": "missing"}])
    if request.headers.get("x-github-event") != "push":
        return WebhookDelivery(status="ignored", reason="only push events make submissions")
    return await _accept_push(_push_of(raw), delivery, github, repo, limits, bus)


def _push_of(raw: bytes) -> PushEvent:
    try:
        return parsed(raw, PushEvent)
    except ValidationError as error:
        raise BadWebhookPayload(_field_problems(error)) from None


def _field_problems(error: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e["loc"]), "msg": e["msg"]} for e in error.errors(include_url=False)]


async def _accept_push(
    push: PushEvent,
    delivery: str,
    github: GitHubHook,
    repo: IntakeRepository,
    limits: FileLimits,
    bus: Topology,
) -> WebhookDelivery:
    config = assignment_for(await repo.configs_for_pushes(), push)
    if push.deleted or config is None:
        reason = f"no assignment takes pushes from {push.repository.full_name} {push.ref}"
        return WebhookDelivery(status="ignored", reason=reason)
    made = await repo.delivered_submission("github", delivery)
    if made is None:
        repository = push.repository.full_name or ""
        files = await github.files.of_commit(repository, push.after, limits)
        body = SubmissionIn(
            grading_config_id=config.id,
            external_user_id=push.student,
            username=push.student,
            language=config.languages[0],
        )
        made = await accept_delivery(
            body, files, repo, limits, bus, ("github", delivery), metadata=push.metadata()
        )
    return WebhookDelivery(status="accepted", id=made)


async def _webhook_submission(
    raw: bytes, limits: FileLimits
) -> tuple[SubmissionIn, dict[str, bytes]]:
    """The fields of POST /api/v1/submissions, the files inline or as a base64 zip;
    what does not fit is a 400 naming each field (a webhook sender is not a form)."""
    try:
        payload = parsed(raw, WebhookSubmissionIn)
    except (ValidationError, InvalidInput) as error:
        problems = _field_problems(error) if isinstance(error, ValidationError) else error.problems
        raise BadWebhookPayload(problems) from None
    body = SubmissionIn.model_validate(payload.model_dump(exclude={"archive_base64"}))
    if payload.archive_base64 is None:
        return body, body.files()
    try:
        archive = base64.b64decode(payload.archive_base64, validate=True)
    except binascii.Error:
        raise BadWebhookPayload([{"loc": ["archive_base64"], "msg": "not base64"}]) from None
    return body, await asyncio.to_thread(files_from_archive, archive, limits)


def _live(request: Request) -> StatusFeed:
    feed: StatusFeed | None = request.app.state.live
    if feed is None:
        raise TransientError("this intake does not follow status events")
    return feed


async def _ended(view: dict[str, Any]) -> AsyncIterator[str]:
    """A submission that ended before anything kept here: its final status, once."""
    data = {
        "submission_id": view["id"],
        "status": view["status"],
        "attempt": view["attempt"],
        "external_assignment_id": view["external_assignment_id"],
        "grading_config_id": view["grading_config_id"],
        "external_user_id": view["external_user_id"],
        "final_score": view["final_score"],
    }
    yield f"id: {view['id']}-{view['attempt']}-final\nevent: status\ndata: {json.dumps(data)}\n\n"


async def _visible_submission(
    submission_id: int, repo: IntakeRepository, who: Principal
) -> dict[str, Any]:
    view = await repo.submission_view(submission_id)
    if view is None:
        raise NotFound(f"no submission with id {submission_id}")
    check_sees_submission(who, view)
    return view


@submissions.post(
    "/{submission_id}/export",
    status_code=202,
    response_model=ExportDelivery,
    responses=problem_responses(404, 409, 422),
)
async def retry_export(
    submission_id: DbId,
    repo: RepoDep,
    bus: TopologyDep,
    who: Annotated[Principal, allowed(Scope.SUBMISSIONS_EXPORT)],
) -> ExportDelivery:
    """Deliver the latest attempt's result to its webhook again; 202 while pending."""
    await export_again(submission_id, repo, bus, who)
    view = await repo.submission_view(submission_id)
    if view is None or view["export"] is None:  # deleted meanwhile: nothing to show
        raise NotFound(f"no export of submission {submission_id}")
    return ExportDelivery.model_validate(view["export"])


@execution.post(
    "",
    response_model=ExecuteOut,
    responses=problem_responses(400, 413, 422, 503),
    openapi_extra=json_body("ExecuteIn"),
)
async def execute_code(
    request: Request,
    limits: LimitsDep,
    who: Annotated[Principal, allowed(Scope.EXECUTE)],
) -> ExecuteOut:
    """Run a command on the files given, once per stdin case, in a sandbox of its own;
    nothing is graded or stored."""
    body = await json_body_of(request, limits.max_request_bytes, ExecuteIn)
    problems = execute_problems(body)
    if problems:
        raise InvalidInput(problems)
    executor = request.app.state.executor
    if executor is None:
        raise TransientError("this intake has no connection to the sandbox service")
    slots: asyncio.Semaphore = request.app.state.execute_slots
    if slots.locked():  # sandboxes are for grading first: a busy intake says so at once
        raise RateLimited(5, "this intake runs as many executions as it may; retry soon")
    async with slots:
        try:
            return await execute(body, executor)
        except SandboxCallFailed as error:
            raise TransientError(f"the sandbox could not run it: {error}") from error


@tokens.post(
    "", status_code=201, response_model=TokenCreated, responses=problem_responses(401, 403, 422)
)
async def create_token(
    body: TokenIn, store: TokensDep, who: Annotated[Principal, allowed(Scope.TOKENS)]
) -> TokenCreated:
    """A new token; its value is in this answer only (it is stored as a hash)."""
    expires_at = None
    if body.expires_in_days is not None:
        expires_at = datetime.now(UTC) + timedelta(days=body.expires_in_days)
    row, token = await store.create(
        Role(body.role), body.name, expires_at=expires_at, assignments=body.assignments
    )
    return TokenCreated(**row, token=token.value)


@tokens.get("", response_model=list[TokenView], responses=problem_responses(401, 403))
async def list_tokens(
    store: TokensDep, who: Annotated[Principal, allowed(Scope.TOKENS)]
) -> list[TokenView]:
    return [TokenView(**row) for row in await store.list()]


@tokens.delete(
    "/{token_id}", response_model=TokenView, responses=problem_responses(401, 403, 404, 422)
)
async def revoke_token(
    token_id: DbId, store: TokensDep, who: Annotated[Principal, allowed(Scope.TOKENS)]
) -> TokenView:
    """Revoked at once: the next request with it is a 401. Answers the revoked token."""
    revoked = await store.revoke(token_id)
    if revoked is None:
        raise NotFound(f"no live token with id {token_id}")
    return TokenView(**revoked)


async def _submission_body(
    request: Request, limits: FileLimits
) -> tuple[SubmissionIn, dict[str, bytes]]:
    """The body's fields and files, from JSON or from a multipart form with a zip."""
    content_type = request.headers.get("content-type", "")
    limit = limits.max_request_bytes
    length = declared_length(request, limit)
    try:
        if content_type.startswith("multipart/form-data"):
            if length is None:
                raise LengthRequired("a multipart request needs a Content-Length header")
            async with request.form() as form:
                return await _archive_form(form, limits)
        body = parsed(await bounded_body(request, limit), SubmissionIn)
        return body, body.files()
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from error


async def _archive_form(
    form: FormData, limits: FileLimits
) -> tuple[SubmissionIn, dict[str, bytes]]:
    """The form's fields, and the files of its zip `archive` (checked off the loop)."""
    archive = form.get("archive")
    if not isinstance(archive, UploadFile):
        raise InvalidSubmission(
            [{"loc": ["archive"], "msg": "a zip file field 'archive' is required"}]
        )
    fields = {k: v for k, v in form.items() if k != "archive" and isinstance(v, str)}
    body = SubmissionIn.model_validate(fields)
    data = await archive.read()
    return body, await asyncio.to_thread(files_from_archive, data, limits)


def problem_response(status: int, title: str, detail: str, errors: list[Any]) -> JSONResponse:
    problem = Problem(title=title, status=status, detail=detail, errors=errors)
    return JSONResponse(
        problem.model_dump(mode="json"), status_code=status, media_type=PROBLEM_TYPE
    )


async def _domain_error(request: Request, error: Exception) -> JSONResponse:
    status, title = next(STATUS_OF[kind] for kind in type(error).__mro__ if kind in STATUS_OF)
    errors = []
    if isinstance(error, InvalidInput):
        root = [] if error.at_root else ["body"]
        errors = [{"loc": [*root, *p["loc"]], "msg": p["msg"]} for p in error.problems]
    response = problem_response(status, title, str(error), errors)
    if isinstance(error, Unauthenticated):
        response.headers["WWW-Authenticate"] = 'Bearer realm="autograder"'
    if isinstance(error, ClaimNoLongerHeld):
        response.headers["Claim-Lost"] = "true"
    if isinstance(error, RangeNotSatisfiable):  # as GitLab's trace API: 0-<stored length>
        response.headers["Range"] = f"0-{error.length}"
    return response


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e.get("type", "value_error")}
        for e in error.errors()
    ]
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return problem_response(422, "Unprocessable input", detail, errors)


async def _dependency_down(request: Request, error: Exception) -> JSONResponse:
    """PostgreSQL unreachable or restarting: try again soon, nothing was accepted."""
    log.warning("dependency unavailable", route=request.url.path, error=type(error).__name__)
    detail = str(error) if isinstance(error, NotReady) else "the database is unavailable"
    response = problem_response(503, "Service unavailable", detail, [])
    response.headers["Retry-After"] = RETRY_AFTER_S
    return response


async def _rate_limited(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RateLimited)
    response = problem_response(429, "Too many requests", str(error), [])
    response.headers["Retry-After"] = str(error.retry_after_s)
    return response


async def _client_gone(request: Request, error: Exception) -> JSONResponse:
    """The client hung up mid-request (a runner cancelling a call): nothing to answer."""
    log.info("client disconnected", route=request.url.path)
    return problem_response(400, "Client disconnected", "the client closed the request", [])


class NotReady(Exception):
    """A dependency is down: GET /ready answers 503 (a probe's body says which)."""


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """A bug or an unplanned failure: logged with its traceback, shown without it."""
    log.exception("unhandled error", route=request.url.path)
    return problem_response(500, "Internal error", "the server failed; it was logged", [])


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own errors (no such route, method not allowed) in the same shape."""
    assert isinstance(error, StarletteHTTPException)
    return problem_response(error.status_code, "HTTP error", str(error.detail), [])


def operation_id(route: APIRoute) -> str:
    """createSubmission, getConfig, ...: the route function's name in camelCase."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def api() -> FastAPI:
    """The routes and the error mapping, with nothing wired in: enough for the OpenAPI."""
    app = FastAPI(title="Autograder", version="1.0", generate_unique_id_function=operation_id)
    for router in (
        health_router,
        configs,
        submissions,
        templates,
        sandbox,
        tokens,
        execution,
        events,
        webhooks,
        regrades,
        runners,
        runner_api,
        staff,
    ):
        app.include_router(router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntakeError, _domain_error)
    app.add_exception_handler(TransientError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for down in (*DEPENDENCY_DOWN, NotReady):
        app.add_exception_handler(down, _dependency_down)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected_error)
    app.openapi = lambda: contract_openapi(app)  # type: ignore[method-assign]
    return app


def create_app(
    repo: IntakeRepository,
    limits: FileLimits,
    topology: Topology,
    sandbox_metrics: Callable[[], Awaitable[SandboxMetrics]] | None = None,
    readiness: Callable[[], Awaitable[dict[str, bool]]] | None = None,
    token_store: TokenStore | None = None,
    development: bool = False,
    rate_limit_per_minute: int = 600,
    executor: Executor | None = None,
    max_executions: int = 2,
    live: StatusFeed | None = None,
    webhook_secret: str | None = None,
    github: GitHubHook | None = None,
    job_policy: JobPolicy | None = None,
) -> FastAPI:
    app = api()
    app.state.tokens = token_store or TokenStore(repo.pool)
    app.state.runners = RunnerStore(repo.pool, job_policy or DEFAULT_JOB_POLICY)
    app.state.development = development
    app.state.rate_limiter = RateLimiter(rate_limit_per_minute)
    app.state.executor = executor
    app.state.live = live
    app.state.webhook_verifier = webhook_signer(webhook_secret) if webhook_secret else None
    app.state.github = github
    app.state.execute_slots = asyncio.Semaphore(max_executions)
    app.state.readiness = readiness or _database_only(repo)
    app.state.sandbox_metrics = sandbox_metrics or _no_sandbox
    app.state.repository = repo
    app.state.file_limits = limits
    app.state.topology = topology
    return app


def _database_only(repo: IntakeRepository) -> Callable[[], Awaitable[dict[str, bool]]]:
    async def readiness() -> dict[str, bool]:
        return {"database": await repo.answers(), "broker": True}

    return readiness


async def _no_sandbox() -> SandboxMetrics:
    raise TransientError("this intake has no connection to the sandbox service")
