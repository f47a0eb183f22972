"""Submissions that arrive by webhook: Standard Webhooks from an LMS, GitHub pushes."""

import asyncio
import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from standardwebhooks.webhooks import WebhookVerificationError

from contracts.api import (
    Accepted,
    WebhookDelivery,
)
from services.intake.adapters.postgres import IntakeRepository
from services.intake.deps import (
    LimitsDep,
    RepoDep,
    TopologyDep,
    bounded_body,
    declared_length,
    parsed,
)
from services.intake.github import GitHubHook, PushEvent, assignment_for, signature_matches
from services.intake.logic import (
    BadWebhookPayload,
    FileLimits,
    InvalidInput,
    Unauthenticated,
    files_from_archive,
)
from services.intake.openapi import json_body, problem_responses
from services.intake.submissions import (
    SubmissionIn,
    WebhookSubmissionIn,
    accept_delivery,
)
from shared.errors import TransientError
from shared.messaging.topology import Topology

webhooks = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


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
