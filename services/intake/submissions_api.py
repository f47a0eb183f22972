"""Routes of submissions: accepting them (JSON or a zip), reading them, regrading,
attempts and their diff, live status over server-sent events, exports, external results."""

import asyncio
import base64
import binascii
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from contracts.api import (
    Accepted,
    AttemptDiff,
    AttemptView,
    ExportDelivery,
    ExternalResultIn,
    RegradeAccepted,
    RegradeIn,
    SubmissionPage,
    SubmissionSummary,
    SubmissionView,
)
from contracts.config import MAX_DB_ID
from contracts.steps import SubmissionStatus
from services.intake.adapters.postgres import SubmissionQuery
from services.intake.attempts import attempt_diff
from services.intake.deps import (
    DbId,
    Limit,
    LimitsDep,
    Offset,
    RepoDep,
    TopologyDep,
    allowed,
    bounded_body,
    declared_length,
    json_body_of,
    parsed,
)
from services.intake.live import TERMINAL, LiveEvent, StatusFeed, stream
from services.intake.logic import (
    FileLimits,
    Forbidden,
    InvalidInput,
    InvalidSubmission,
    LengthRequired,
    NotFound,
    files_from_archive,
)
from services.intake.openapi import json_body, problem_responses, submission_body
from services.intake.submissions import (
    IdempotencyKey,
    SubmissionIn,
    accept_external_result,
    accept_once,
    check_assignment,
    export_again,
    external_result_key,
    regrade,
    visible_submission,
)
from shared.auth import Principal, Scope
from shared.errors import TransientError

submissions = APIRouter(prefix="/api/v1/submissions", tags=["submissions"])
events = APIRouter(prefix="/api/v1/events", tags=["events"])


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
    return SubmissionView.model_validate(await visible_submission(submission_id, repo, who))


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
    await visible_submission(submission_id, repo, who)
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
    await visible_submission(submission_id, repo, who)
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
    view = await visible_submission(submission_id, repo, who)
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
