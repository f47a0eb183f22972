"""The OpenAPI document as a contract: every error is `application/problem+json` with the
one Problem schema, and POST /api/v1/submissions shows both of its bodies.

FastAPI documents a route's 4xx as `application/json` and adds its own 422 schema; the
document is rewritten here once, so each route only names the statuses it can answer.
"""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from contracts.api import ExecuteIn, ExternalResultIn, Problem
from contracts.config import GradingConfigIn, GradingConfigUpdate
from services.intake.submissions import SubmissionFields, SubmissionIn, WebhookSubmissionIn

PROBLEM_TYPE = "application/problem+json"
SCHEMAS = "#/components/schemas/"
_FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")


class SubmissionUpload(SubmissionFields):
    """The multipart form of POST /api/v1/submissions: the fields of the JSON body, and
    the submission's files as one zip `archive` instead of `submission_files`."""

    archive: bytes = Field(description="a zip of the submission's files")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status answers with a Problem."""
    return {
        status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses
    }


def json_body(schema: str) -> dict[str, Any]:
    """A JSON request body a route reads itself (to bound it before parsing)."""
    content = {"application/json": {"schema": {"$ref": f"{SCHEMAS}{schema}"}}}
    return {"requestBody": {"required": True, "content": content}}


def submission_body() -> dict[str, Any]:
    """The request body of POST /api/v1/submissions, which FastAPI cannot infer: the
    route reads JSON or multipart itself, to bound the body before parsing it."""
    return {
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": "The same key and request within 24 hours answer the first "
                "submission and create nothing; the same key with another request is a 422.",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"{SCHEMAS}SubmissionIn"}},
                "multipart/form-data": {"schema": {"$ref": f"{SCHEMAS}SubmissionUpload"}},
            },
        },
    }


def contract_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, routes=app.routes)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in (
            GradingConfigIn,
            GradingConfigUpdate,
            ExternalResultIn,
            ExecuteIn,
            WebhookSubmissionIn,
            SubmissionIn,
            SubmissionUpload,
            Problem,
        ):
            _add_schema(schemas, model)
        for name in _FASTAPI_ERROR_SCHEMAS:
            schemas.pop(name, None)
        for operation in _operations(document):
            _errors_as_problems(operation)
        _bearer_tokens(document)
        app.openapi_schema = document
    return app.openapi_schema


def _add_schema(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    schema = model.model_json_schema(ref_template=SCHEMAS + "{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for path in document["paths"].values() for op in path.values()]


# The only routes that need no token: probes.
# Signed by their senders instead of a token: the probes need neither.
OPEN_PATHS = ("/health", "/ready", "/api/v1/webhooks/submissions", "/api/v1/webhooks/github")


def _bearer_tokens(document: dict[str, Any]) -> None:
    """Every route but the probes takes `Authorization: Bearer <token>` and may answer
    401 (no usable token) or 403 (a token whose role may not do this)."""
    schemes = document["components"].setdefault("securitySchemes", {})
    schemes["bearer"] = {"type": "http", "scheme": "bearer", "description": "An API token"}
    for path, operations in document["paths"].items():
        if path in OPEN_PATHS:
            continue
        for operation in operations.values():
            operation["security"] = [{"bearer": []}]
            for status in (401, 403, 429):
                operation["responses"].setdefault(
                    str(status),
                    {
                        "description": HTTPStatus(status).phrase,
                        "content": {PROBLEM_TYPE: {"schema": {"$ref": f"{SCHEMAS}Problem"}}},
                    },
                )


def _errors_as_problems(operation: dict[str, Any]) -> None:
    problem = {PROBLEM_TYPE: {"schema": {"$ref": f"{SCHEMAS}Problem"}}}
    for status, response in operation["responses"].items():
        if int(status) >= 400:
            response["content"] = problem
            response["description"] = HTTPStatus(int(status)).phrase
