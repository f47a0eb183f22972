"""Routes of grading configs (versioned, never edited in place) and of regrading a whole
assignment: /api/v1/configs, /api/v1/regrades."""

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from contracts.api import (
    RegradeBatchAccepted,
    RegradeBatchProgress,
    RegradeIn,
)
from contracts.config import GradingConfig, GradingConfigIn, GradingConfigUpdate
from services.intake.adapters.postgres import IntakeRepository
from services.intake.deps import (
    DbId,
    Limit,
    LimitsDep,
    Offset,
    RepoDep,
    allowed,
    json_body_of,
)
from services.intake.logic import (
    FileLimits,
    InvalidInput,
    NotFound,
    config_problems,
    webhook_problems,
)
from services.intake.openapi import json_body, problem_responses
from services.intake.submissions import (
    check_assignment,
)
from shared.auth import Principal, Scope

configs = APIRouter(prefix="/api/v1/configs", tags=["configs"])
regrades = APIRouter(prefix="/api/v1/regrades", tags=["regrades"])


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
