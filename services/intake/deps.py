"""What intake's routes depend on: the app's wiring, the caller's token and scope, and
the request body read within a limit. Every router module takes these from here."""

from typing import Annotated, Any, TypeVar

import structlog
from fastapi import Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from contracts.config import MAX_DB_ID
from services.intake.adapters.postgres import IntakeRepository
from services.intake.logic import (
    MAX_JSON_DEPTH,
    FileLimits,
    Forbidden,
    InvalidInput,
    MalformedRequest,
    RequestTooLarge,
    Unauthenticated,
    json_depth,
)
from shared.auth import Principal, Scope
from shared.db.tokens import TokenStore
from shared.messaging.topology import Topology


def repository(request: Request) -> IntakeRepository:
    return request.app.state.repository  # type: ignore[no-any-return]


def file_limits(request: Request) -> FileLimits:
    return request.app.state.file_limits  # type: ignore[no-any-return]


def topology(request: Request) -> Topology:
    return request.app.state.topology  # type: ignore[no-any-return]


def token_store(request: Request) -> TokenStore:
    return request.app.state.tokens  # type: ignore[no-any-return]


# Where a careless client may have put a token: refused, so it is not used from a URL
# (URLs end up in logs, proxies and browser history).
TOKEN_QUERY_NAMES = ("access_token", "token", "api_key", "apikey")
# Browsers cannot set headers on an EventSource: they may send the token as this cookie.
TOKEN_COOKIE = "autograder_token"


async def caller(request: Request, store: Annotated[TokenStore, Depends(token_store)]) -> Principal:
    """The token's principal: 401 when there is none, or it is unknown, revoked or expired."""
    if any(name in request.query_params for name in TOKEN_QUERY_NAMES):
        raise Unauthenticated("a token is accepted only in the Authorization header")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if not scheme and TOKEN_COOKIE in request.cookies:  # a browser's EventSource
        scheme, value = "bearer", request.cookies[TOKEN_COOKIE]
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("send a token as `Authorization: Bearer <token>`")
    principal = await store.authenticate(value.strip())
    if principal is None:
        raise Unauthenticated("the token is unknown, revoked or expired")
    structlog.contextvars.bind_contextvars(token_id=principal.token_id)
    request.app.state.rate_limiter.take(principal.token_id)
    return principal


def allowed(scope: Scope) -> Any:
    """A dependency: the caller, when its role has `scope` (403 if not)."""

    async def check(who: Annotated[Principal, Depends(caller)]) -> Principal:
        if not who.may(scope):
            raise Forbidden(f"a {who.role} token may not use {scope}")
        return who

    return Depends(check)


ModelT = TypeVar("ModelT", bound=BaseModel)
# Ids are PostgreSQL bigints: a larger number names nothing, and is said so (422).
DbId = Annotated[int, Path(ge=1, le=MAX_DB_ID)]
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many")]
Offset = Annotated[int, Query(ge=0, le=MAX_DB_ID, description="skip this many first")]
RepoDep = Annotated[IntakeRepository, Depends(repository)]
LimitsDep = Annotated[FileLimits, Depends(file_limits)]
TopologyDep = Annotated[Topology, Depends(topology)]
TokensDep = Annotated[TokenStore, Depends(token_store)]


def declared_length(request: Request, limit: int) -> int | None:
    """Content-Length when given; refused before reading when it is over the limit."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    try:
        length = int(raw)
    except ValueError:
        raise MalformedRequest("invalid Content-Length header") from None
    if length > limit:
        raise RequestTooLarge(f"request body larger than {limit} bytes")
    return length


async def bounded_body(request: Request, limit: int) -> bytes:
    """The body, read in pieces and refused as soon as it passes the limit."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body_of(request: Request, limit: int, model: type[ModelT]) -> ModelT:
    """A JSON body read within `limit` bytes (413 past it), then parsed."""
    declared_length(request, limit)
    try:
        return parsed(await bounded_body(request, limit), model)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from error


def parsed(raw: bytes, model: type[ModelT]) -> ModelT:
    """The model from JSON, refusing nesting deeper than any config needs first (the
    parser's own limit would answer a 400 that names nothing)."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise InvalidInput([{"loc": [], "msg": f"nested deeper than {MAX_JSON_DEPTH} levels"}])
    return model.model_validate_json(raw)
