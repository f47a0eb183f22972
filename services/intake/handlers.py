"""The intake HTTP app: every router (configs_api, submissions_api, webhooks_api,
platform_api, runner_api; their dependencies in deps.py) and the one error mapping.

Every error is one `application/problem+json` body (contracts.api.Problem); a 422 names
each wrong field by its JSON path. Domain errors become HTTP here, in `STATUS_OF`.
"""

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from contracts.api import (
    Problem,
)
from contracts.sandbox import SandboxMetrics
from services.intake.adapters.postgres import IntakeRepository
from services.intake.adapters.runner_jobs import JobPolicy, RunnerStore
from services.intake.configs_api import configs, regrades
from services.intake.execute import Executor
from services.intake.github import GitHubHook
from services.intake.live import StatusFeed
from services.intake.logic import (
    BadWebhookPayload,
    ClaimNoLongerHeld,
    Conflict,
    FileLimits,
    Forbidden,
    IntakeError,
    InvalidInput,
    LengthRequired,
    MalformedRequest,
    NotFound,
    RangeNotSatisfiable,
    RequestTooLarge,
    Unauthenticated,
)
from services.intake.openapi import contract_openapi
from services.intake.platform_api import (
    NotReady,
    execution,
    health_router,
    sandbox,
    templates,
    tokens,
)
from services.intake.ratelimit import RateLimited, RateLimiter
from services.intake.runner_api import runner_api, runners, staff
from services.intake.submissions_api import events, submissions
from services.intake.webhooks_api import webhooks
from shared.db.tokens import TokenStore
from shared.errors import TransientError
from shared.messaging.topology import Topology
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
