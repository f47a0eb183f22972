"""The exported payload and its signature (HMAC-SHA256 over the exact body bytes)."""

import hashlib
import hmac
import json
from typing import Any

from contracts.messages import StepRequest

SIGNATURE_HEADER = "X-Autograder-Signature"


def export_payload(request: StepRequest) -> dict[str, Any]:
    graded = request.context.grade
    return {
        "submission_id": request.submission.id,
        "attempt": request.submission.attempt,
        "external_user_id": request.submission.external_user_id,
        "username": request.submission.username,
        "external_assignment_id": request.config.external_assignment_id,
        "grading_config_id": request.config.id,
        "final_score": None if graded is None else graded.final_score,
        "result_tree": None if graded is None else graded.result_tree.model_dump(mode="json"),
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
