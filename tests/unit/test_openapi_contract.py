"""The OpenAPI document is a contract clients can generate code from."""

from typing import Any

import pytest

from services.intake.handlers import api

DOCUMENT = api().openapi()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, methods in DOCUMENT["paths"].items()
    for method, operation in methods.items()
]


def operation(method: str, path: str) -> dict[str, Any]:
    return next(op for m, p, op in OPERATIONS if (m, p) == (method, path))


def test_operation_ids_are_readable() -> None:
    ids = {(m, p): op["operationId"] for m, p, op in OPERATIONS}

    assert ids[("POST", "/api/v1/submissions")] == "createSubmission"
    assert ids[("GET", "/api/v1/submissions/{submission_id}")] == "getSubmission"
    assert ids[("POST", "/api/v1/configs")] == "createConfig"
    assert ids[("GET", "/api/v1/configs/id/{config_id}")] == "getConfig"
    assert len(set(ids.values())) == len(ids)


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS)
def test_every_route_has_a_typed_success_response(method: str, path: str, op: Any) -> None:
    success = next(body for status, body in op["responses"].items() if status.startswith("2"))

    content = success["content"]
    if "application/x-tar" in content:  # a runner's download: bytes, streamed
        assert content["application/x-tar"]["schema"]["format"] == "binary"
        return
    if "application/json" not in content:  # a live stream only: its events are documented
        assert "StatusEvent" in success["description"]
        return
    schema = success["content"]["application/json"]["schema"]
    assert "$ref" in schema or schema.get("type") == "array"


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS)
def test_every_error_is_a_problem_document(method: str, path: str, op: Any) -> None:
    errors = {s: body for s, body in op["responses"].items() if int(s) >= 400}

    for body in errors.values():
        assert body["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    assert "HTTPValidationError" not in DOCUMENT["components"]["schemas"]


def test_submissions_take_json_or_a_multipart_zip() -> None:
    body = operation("POST", "/api/v1/submissions")["requestBody"]["content"]
    schemas = DOCUMENT["components"]["schemas"]

    assert body["application/json"]["schema"]["$ref"].endswith("/SubmissionIn")
    assert body["multipart/form-data"]["schema"]["$ref"].endswith("/SubmissionUpload")
    assert "submission_files" in schemas["SubmissionIn"]["properties"]
    assert schemas["SubmissionUpload"]["properties"]["archive"]["format"] == "binary"
    assert {"404", "422"} <= set(operation("GET", "/api/v1/configs/id/{config_id}")["responses"])
