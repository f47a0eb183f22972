"""The intake HTTP API (reference web API field names).

POST /api/v1/configs, GET /api/v1/configs/{id}, POST /api/v1/submissions (JSON with
`submission_files`, or multipart with a zip `archive`), GET /api/v1/submissions/{id},
GET /health. Every 4xx body names the offending field by its JSON path.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from contracts.config import GradingConfigIn
from contracts.results import PipelineExecution
from services.intake.adapters.postgres import IntakeRepository
from services.intake.logic import FileLimits, InvalidSubmission, config_problems
from services.intake.submissions import SubmissionIn, accept_submission, archive_files
from shared.errors import TransientError
from shared.execution import public_json
from shared.grading.catalogue import catalogue, template_detail
from shared.grading.errors import UnknownTemplate
from shared.messaging.topology import Topology

router = APIRouter()


def repository(request: Request) -> IntakeRepository:
    return request.app.state.repository  # type: ignore[no-any-return]


def file_limits(request: Request) -> FileLimits:
    return request.app.state.file_limits  # type: ignore[no-any-return]


def topology(request: Request) -> Topology:
    return request.app.state.topology  # type: ignore[no-any-return]


Repo = Annotated[IntakeRepository, Depends(repository)]
Limits = Annotated[FileLimits, Depends(file_limits)]
Bus = Annotated[Topology, Depends(topology)]


class Accepted(BaseModel):
    id: int
    status: str = "queued"


def unprocessable(problems: list[dict[str, Any]], prefix: str = "body") -> HTTPException:
    detail = [
        {"loc": [prefix, *p["loc"]], "msg": p["msg"], "type": "value_error"} for p in problems
    ]
    return HTTPException(status_code=422, detail=detail)


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/api/v1/configs", status_code=201)
async def create_config(body: GradingConfigIn, repo: Repo) -> dict[str, Any]:
    problems = config_problems(body)
    if problems:
        raise unprocessable(problems)
    stored = await repo.create_config(body)
    return stored.model_dump(mode="json")


@router.get("/api/v1/templates")
async def list_templates() -> list[dict[str, Any]]:
    return catalogue()


@router.get("/api/v1/templates/{name}")
async def get_template_detail(name: str) -> dict[str, Any]:
    try:
        return template_detail(name)
    except UnknownTemplate as error:
        raise HTTPException(404, detail=str(error)) from error


@router.get("/api/v1/sandbox/metrics")
async def sandbox_metrics(request: Request) -> dict[str, Any]:
    """Pool size per language, leases in use, waits and reaped leases, from the sandbox."""
    try:
        return await request.app.state.sandbox_metrics()  # type: ignore[no-any-return]
    except TransientError as error:
        raise HTTPException(503, detail=f"the sandbox service did not answer: {error}") from error


@router.get("/api/v1/configs/{config_id}")
async def get_config(config_id: int, repo: Repo) -> dict[str, Any]:
    config = await repo.get_config(config_id)
    if config is None:
        raise HTTPException(404, detail=f"no grading config with id {config_id}")
    return config.model_dump(mode="json")


@router.post("/api/v1/submissions", status_code=202)
async def create_submission(request: Request, repo: Repo, limits: Limits, bus: Bus) -> Accepted:
    body = await _submission_body(request, limits)
    try:
        submission_id = await accept_submission(body, repo, limits, bus)
    except InvalidSubmission as error:
        raise unprocessable(error.problems) from error
    return Accepted(id=submission_id)


class _TooLarge(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _too_large(limit: int) -> _TooLarge:
    return _TooLarge(413, f"request body larger than {limit} bytes")


async def _too_large_response(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, _TooLarge)
    return JSONResponse(status_code=error.status, content={"detail": error.detail})


def _declared_length(request: Request, limit: int) -> int | None:
    """Content-Length when given; 413 before reading when it is over the limit."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    try:
        length = int(raw)
    except ValueError:
        raise _TooLarge(400, "invalid Content-Length header") from None
    if length > limit:
        raise _too_large(limit)
    return length


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The body, read in pieces and refused as soon as it passes the limit."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _submission_body(request: Request, limits: FileLimits) -> SubmissionIn:
    content_type = request.headers.get("content-type", "")
    limit = limits.max_request_bytes
    length = _declared_length(request, limit)
    try:
        if content_type.startswith("multipart/form-data"):
            if length is None:
                raise _TooLarge(411, "a multipart request needs a Content-Length header")
            async with request.form() as form:
                return await archive_files(form, limits)
        return SubmissionIn.model_validate_json(await _bounded_body(request, limit))
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from error
    except InvalidSubmission as error:
        raise unprocessable(error.problems) from error


@router.get("/api/v1/submissions/{submission_id}")
async def get_submission(submission_id: int, repo: Repo) -> dict[str, Any]:
    view = await repo.submission_view(submission_id)
    if view is None:
        raise HTTPException(404, detail=f"no submission with id {submission_id}")
    return public_submission(view)


def public_submission(view: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": view["id"],
        "status": view["status"],
        "attempt": view["attempt"],
        "grading_config_id": view["grading_config_id"],
        "external_user_id": view["external_user_id"],
        "username": view["username"],
        "language": view["language"],
        "created_at": view["created_at"].isoformat(),
        "final_score": view["final_score"],
        "feedback": view["feedback"],
        "result_tree": view["result_tree"],
        "pipeline_execution": public_json(
            PipelineExecution.model_validate(view["pipeline_execution"])
        ),
    }


def create_app(
    repo: IntakeRepository,
    limits: FileLimits,
    topology: Topology,
    sandbox_metrics: Callable[[], Awaitable[dict[str, Any]]] | None = None,
) -> FastAPI:
    app = FastAPI(title="Autograder", version="1.0")
    app.state.sandbox_metrics = sandbox_metrics or _no_sandbox
    app.state.repository = repo
    app.state.file_limits = limits
    app.state.topology = topology
    app.include_router(router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(_TooLarge, _too_large_response)
    return app


async def _no_sandbox() -> dict[str, Any]:
    raise TransientError("this intake has no connection to the sandbox service")


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    detail = [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e.get("type", "value_error")}
        for e in error.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": detail})
