"""The `api` template against the real local sandbox: a small http.server app is started,
probed and stopped inside one run per test."""

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from contracts.config import GradingConfigIn
from contracts.sandbox import RunRequest, RunResult
from services.inprocess import grade_files
from services.sandbox.backends.local import LocalBackend
from shared.grading.criteria import build_tree
from shared.grading.errors import GradingError, InvalidCriteria
from shared.grading.ports import GradeContext
from shared.grading.templates import TestOutcome, get_template
from shared.grading.templates.api import json_differences

SERVER = b"""
import json, os, socket, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

USER = {"id": 1, "name": "Ana", "tags": ["a", "b"], "address": {"city": "Recife", "zip": "50000"}}
REDIRECTS = {"/old": "/users/1", "/loop": "/loop", "/away": "http://example.com/"}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.answer(200, {"status": "ok"})
        elif self.path == "/users/1":
            self.answer(200, USER)
        elif self.path == "/text":
            self.answer(200, "plain words", content_type="text/plain")
        elif self.path == "/crash":
            os._exit(3)
        elif self.path in REDIRECTS:
            self.send_response(302)
            self.send_header("Location", REDIRECTS[self.path])
            self.end_headers()
        else:
            self.answer(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.answer(201, {"created": body, "type": self.headers["Content-Type"]})

    def answer(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("X-Powered-By", "tests")
        self.end_headers()
        self.wfile.write(data)


port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
host = sys.argv[2] if len(sys.argv) > 2 else "0.0.0.0"
if ":" in host:
    HTTPServer.address_family = socket.AF_INET6
HTTPServer((host, port), Handler).serve_forever()
"""
CRASHES = b'raise RuntimeError("the database file is missing")\n'
NEVER_LISTENS = b"import time\ntime.sleep(60)\n"
FILES = {"main.py": SERVER, "crash.py": CRASHES, "sleepy.py": NEVER_LISTENS}
QUICK = {"startup_timeout_ms": 2000}


@dataclass
class LeaseRunner:
    """The ProgramRunner the grading service gives test functions, on a local lease."""

    backend: LocalBackend
    lease_id: str

    async def run(self, request: RunRequest) -> RunResult:
        return await self.backend.run(self.lease_id, request)

    async def read_file(self, path: str) -> bytes | None:
        return await self.backend.read_file(self.lease_id, path)


@pytest.fixture
async def ctx() -> AsyncIterator[GradeContext]:
    backend = LocalBackend()
    try:
        lease_id = await backend.acquire("api:1", "python")
        await backend.put_files(lease_id, FILES)
        yield GradeContext(language="python", files={}, runner=LeaseRunner(backend, lease_id))
    finally:
        await backend.close()


async def run(ctx: GradeContext, function: str, **parameters: Any) -> TestOutcome:
    test_function = get_template("api").functions[function]
    return await test_function.run(ctx, test_function.params_model.model_validate(parameters))


# --- health_check and check_status_code ----------------------------------------------


async def test_a_healthy_server_passes_the_health_check(ctx: GradeContext) -> None:
    outcome = await run(ctx, "health_check")

    assert (outcome.verdict, outcome.score) == ("passed", 100), outcome.message
    assert "GET /health" in outcome.message
    assert "200" in outcome.message
    assert outcome.time_ms is not None


async def test_a_wrong_status_fails_saying_what_was_expected(ctx: GradeContext) -> None:
    outcome = await run(ctx, "check_status_code", path="/nothing", expected_status=200, **QUICK)

    assert (outcome.verdict, outcome.score) == ("failed", 0)
    assert "GET /nothing" in outcome.message
    assert "404" in outcome.message
    assert (outcome.expected, outcome.actual) == ("200", "404")


async def test_a_json_body_is_posted_as_json(ctx: GradeContext) -> None:
    outcome = await run(
        ctx,
        "check_status_code",
        method="POST",
        path="/users",
        json_body={"name": "Bia"},
        expected_status=201,
    )

    assert outcome.verdict == "passed", outcome.message


# --- check_response_json --------------------------------------------------------------


async def test_json_passes_when_it_contains_the_expected_values(ctx: GradeContext) -> None:
    expected = {"name": "Ana", "tags": ["a", "b"], "address": {"city": "Recife"}}

    outcome = await run(ctx, "check_response_json", path="/users/1", expected_json=expected)

    assert outcome.verdict == "passed", outcome.message


async def test_posted_json_comes_back_in_the_answer(ctx: GradeContext) -> None:
    outcome = await run(
        ctx,
        "check_response_json",
        method="POST",
        path="/users",
        json_body={"name": "Bia"},
        expected_json={"created": {"name": "Bia"}, "type": "application/json"},
        expected_status=201,
    )

    assert outcome.verdict == "passed", outcome.message


async def test_json_mismatch_lists_every_difference(ctx: GradeContext) -> None:
    expected = {"name": "Bia", "email": "bia@example.com", "address": {"city": "Recife"}}

    outcome = await run(ctx, "check_response_json", path="/users/1", expected_json=expected)

    assert (outcome.verdict, outcome.score) == ("failed", 0)
    assert '$.name: expected "Bia", got "Ana"' in outcome.message
    assert '$.email: missing; expected "bia@example.com"' in outcome.message
    assert "city" not in outcome.message  # what matches is not listed
    assert '"Ana"' in (outcome.actual or "")


async def test_an_answer_that_is_not_json_fails(ctx: GradeContext) -> None:
    outcome = await run(ctx, "check_response_json", path="/text", expected_json={"a": 1})

    assert outcome.verdict == "failed"
    assert "not valid JSON" in outcome.message
    assert "plain words" in outcome.message


def test_json_subset_rules() -> None:
    assert json_differences({"a": {"b": 1}}, {"a": {"b": 1.0, "c": 2}, "d": 3}) == []
    assert [d.where for d in json_differences({"a": 1}, {"a": True})] == ["$.a"]  # true is not 1
    assert [d.where for d in json_differences({"l": [1, 2]}, {"l": [1, 2, 3]})] == ["$.l"]
    assert [d.where for d in json_differences({"l": [{"x": 1}]}, {"l": [{"x": 2}]})] == ["$.l[0].x"]
    (missing,) = json_differences({"odd key": 1}, {})
    assert (missing.where, missing.missing) == ('$["odd key"]', True)


# --- the reference autograder's names and scores ---------------------------------------


@pytest.mark.parametrize(
    ("parameters", "score"),
    [
        # Reference: GET endpoint; 100 if the status is 200 (after requests follows
        # redirects), else 0.
        ({"endpoint": "/health"}, 100),
        ({"endpoint": "/old"}, 100),  # 302 -> /users/1, which answers 200
        ({"endpoint": "/nothing"}, 0),  # 404
        ({"endpoint": "/loop"}, 0),  # requests gives up: TooManyRedirects
        ({"endpoint": "/away"}, 0),  # a host outside the sandbox
    ],
)
async def test_health_check_scores_as_the_reference(
    ctx: GradeContext, parameters: dict[str, Any], score: int
) -> None:
    outcome = await run(ctx, "health_check", **parameters)

    assert outcome.score == score, outcome.message


@pytest.mark.parametrize(
    ("parameters", "score"),
    [
        # Reference: status must be 200, then data.get(expected_key) == expected_value.
        ({"endpoint": "/health", "expected_key": "status", "expected_value": "ok"}, 100),
        ({"endpoint": "/health", "expected_key": "status", "expected_value": "OK"}, 0),
        ({"endpoint": "/users/1", "expected_key": "id", "expected_value": True}, 100),  # 1 == True
        ({"endpoint": "/users/1", "expected_key": "email", "expected_value": None}, 100),  # get
        ({"endpoint": "/users/1", "expected_key": "tags", "expected_value": ["a"]}, 0),
        ({"endpoint": "/old", "expected_key": "name", "expected_value": "Ana"}, 100),  # followed
        ({"endpoint": "/nothing", "expected_key": "error", "expected_value": "not found"}, 0),
        ({"endpoint": "/text", "expected_key": "a", "expected_value": None}, 0),  # not JSON
    ],
)
async def test_check_response_json_scores_as_the_reference(
    ctx: GradeContext, parameters: dict[str, Any], score: int
) -> None:
    outcome = await run(ctx, "check_response_json", **parameters)

    assert outcome.score == score, outcome.message


async def test_check_response_json_messages_name_the_key(ctx: GradeContext) -> None:
    params = {"endpoint": "/users/1", "expected_key": "name", "expected_value": "Bia"}
    wrong = await run(ctx, "check_response_json", **params)
    missing = await run(ctx, "check_response_json", **{**params, "expected_key": "nick"})
    not_found = await run(ctx, "check_response_json", **{**params, "endpoint": "/nothing"})

    assert wrong.message == (
        'Your server\'s JSON answer to GET /users/1 (status 200) has "name" equal to "Ana", '
        'but this test expects "Bia".'
    )
    assert 'has no key "nick"' in missing.message
    assert not_found.message.endswith("with status 404, but this test expects status 200.")


async def test_our_own_status_check_does_not_follow_redirects(ctx: GradeContext) -> None:
    outcome = await run(ctx, "check_status_code", endpoint="/old", expected_status=302)

    assert outcome.verdict == "passed", outcome.message


def test_check_response_json_takes_one_form_of_expectation() -> None:
    problems = problems_of(
        {"name": "check_response_json", "endpoint": "/x"},
        {"name": "check_response_json", "path": "/x", "expected_json": {}, "expected_key": "a"},
        {"name": "check_response_json", "path": "/x", "expected_json": {}, "expected_value": 1},
    )

    assert [message for _, message in problems] == [
        "give either expected_json or expected_key with expected_value",
        "give either expected_json or expected_key with expected_value",
        "expected_value needs expected_key",
    ]


# --- check_headers --------------------------------------------------------------------


async def test_headers_match_by_name_in_any_case(ctx: GradeContext) -> None:
    expected = {"content-type": "application/json", "X-POWERED-BY": "*"}

    outcome = await run(ctx, "check_headers", path="/health", expected_headers=expected)

    assert outcome.verdict == "passed", outcome.message


async def test_missing_and_different_headers_are_named(ctx: GradeContext) -> None:
    expected = {"X-Request-Id": "*", "Content-Type": "text/html", "X-Powered-By": "tests"}

    outcome = await run(ctx, "check_headers", path="/health", expected_headers=expected)

    assert outcome.verdict == "failed"
    assert "X-Request-Id: missing" in outcome.message
    assert 'Content-Type: expected "text/html", got "application/json"' in outcome.message
    assert "X-Powered-By" not in outcome.message


# --- servers that do not answer -------------------------------------------------------


async def test_a_server_that_crashes_at_start_is_a_runtime_error(ctx: GradeContext) -> None:
    started = time.monotonic()

    patient = {"startup_timeout_ms": 30_000}
    outcome = await run(ctx, "health_check", program_command="python3 crash.py", **patient)

    assert (outcome.verdict, outcome.score) == ("runtime_error", 0)
    assert "stopped before it answered on port 8000" in outcome.message
    assert "RuntimeError: the database file is missing" in outcome.message
    assert time.monotonic() - started < 20  # seen at once, not after the 30 s startup timeout


async def test_a_server_that_never_listens_runs_out_of_time(ctx: GradeContext) -> None:
    outcome = await run(ctx, "health_check", program_command="python3 sleepy.py", **QUICK)

    assert (outcome.verdict, outcome.score) == ("time_limit", 0)
    assert "did not answer on port 8000 within 2000 ms" in outcome.message


async def test_a_server_on_another_port_is_not_found(ctx: GradeContext) -> None:
    elsewhere = {"program_command": "python3 main.py 9000", **QUICK}

    missed = await run(ctx, "health_check", **elsewhere)
    found = await run(ctx, "health_check", port=9000, **elsewhere)

    assert missed.verdict == "time_limit"
    assert "listens on port 8000" in missed.message
    assert found.verdict == "passed", found.message


async def test_a_server_listening_on_ipv6_loopback_only_is_found(ctx: GradeContext) -> None:
    outcome = await run(ctx, "health_check", program_command="python3 main.py 8000 ::1", **QUICK)

    assert outcome.verdict == "passed", outcome.message


async def test_a_server_that_dies_on_the_request_is_a_runtime_error(ctx: GradeContext) -> None:
    outcome = await run(ctx, "check_status_code", path="/crash", expected_status=200, **QUICK)

    assert outcome.verdict == "runtime_error", outcome.message
    assert "stopped while answering GET /crash" in outcome.message


async def test_messages_follow_the_students_locale(ctx: GradeContext) -> None:
    outcome = await run(
        replace(ctx, locale="pt_BR"), "check_status_code", path="/x", expected_status=200
    )

    assert outcome.message.startswith("Seu servidor respondeu GET /x com o status 404")


async def test_without_a_sandbox_the_grader_is_at_fault() -> None:
    with pytest.raises(GradingError, match="no sandbox"):
        await run(GradeContext(language="python", files={}, runner=None), "health_check")


# --- configuration --------------------------------------------------------------------


def problems_of(*tests: dict[str, Any]) -> list[tuple[Any, ...]]:
    with pytest.raises(InvalidCriteria) as caught:
        build_tree({"base": {"tests": list(tests)}}, ["api"])
    return [(tuple(problem["loc"][3:]), problem["msg"]) for problem in caught.value.errors]


def test_bad_parameters_are_config_errors() -> None:
    problems = problems_of(
        {"name": "health_check", "port": 0, "path": "health", "inputs": ["1"]},
        {"name": "check_status_code", "path": "/x", "method": "FETCH"},
        {"name": "check_headers", "path": "/x", "expected_headers": {"Bad Name": "*"}},
        {"name": "check_response_json", "path": "/x", "expected_json": [1], "timeout": 3},
    )

    locs = {loc for loc, _ in problems}
    assert {
        (0, "parameters", "port"),
        (0, "parameters", "path"),
        (0, "parameters", "inputs"),
        (1, "parameters", "method"),
        (1, "parameters", "expected_status"),
        (2, "parameters", "expected_headers"),
        (3, "parameters", "expected_json"),
        (3, "parameters", "timeout"),
    } <= locs
    messages = " | ".join(message for _, message in problems)
    assert "must start with '/'" in messages
    assert "reads no stdin" in messages
    assert "missing required parameter 'expected_status' of check_status_code" in messages
    assert "'Bad Name' is not a valid header name" in messages


def test_a_valid_config_needs_the_sandbox() -> None:
    tree = build_tree(
        {
            "base": {
                "tests": [
                    {"name": "health_check"},
                    {"name": "check_status_code", "path": "/", "expected_status": 200},
                ]
            }
        },
        ["api"],
    )

    assert tree.requires_sandbox


# --- the whole pipeline, in process ----------------------------------------------------


async def test_grade_files_runs_api_tests_in_the_sandbox() -> None:
    criteria = {
        "base": {
            "tests": [
                {"name": "health_check", "startup_timeout_ms": 3000},
                {
                    "name": "check_response_json",
                    "path": "/users/1",
                    "expected_json": {"name": "Ana"},
                },
                {"name": "check_status_code", "path": "/nothing", "expected_status": 200},
            ]
        }
    }
    config = GradingConfigIn(
        external_assignment_id="api",
        template_name="api",
        include_feedback=False,
        criteria_config=criteria,
    )
    backend = LocalBackend()
    try:
        response = await grade_files({"main.py": SERVER}, config, "python", backend)
    finally:
        await backend.close()

    assert response["status"] == "completed", response["pipeline_execution"]
    assert response["final_score"] == pytest.approx(66.67), response["result_tree"]
