"""The routes around grading: health and readiness, templates, sandbox metrics, running
code without grading (/api/v1/execute), and API tokens."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Request

from contracts.api import (
    ExecuteIn,
    ExecuteOut,
    Health,
    Readiness,
    TemplateDetail,
    TemplateSummary,
    TokenCreated,
    TokenIn,
    TokenView,
)
from contracts.sandbox import SandboxMetrics
from services.intake.deps import (
    DbId,
    LimitsDep,
    TokensDep,
    allowed,
    json_body_of,
)
from services.intake.execute import execute, execute_problems
from services.intake.logic import (
    InvalidInput,
    NotFound,
)
from services.intake.openapi import json_body, problem_responses
from services.intake.ratelimit import RateLimited
from shared.auth import Principal, Role, Scope
from shared.errors import TransientError
from shared.grading.catalogue import catalogue, template_detail
from shared.grading.errors import UnknownTemplate
from shared.sandbox_client import SandboxCallFailed


class NotReady(Exception):
    """A dependency is down: GET /ready answers 503 (a probe's body says which)."""


health_router = APIRouter(tags=["health"])
templates = APIRouter(prefix="/api/v1/templates", tags=["templates"])
sandbox = APIRouter(prefix="/api/v1/sandbox", tags=["sandbox"])
tokens = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])
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
