"""The `api` template: start the student's HTTP server in the sandbox and ask it things.

A sandbox run kills everything it started when it ends, so each test is ONE run: a shell
starts the server in the background (its stdout joins its stderr) and then execs a small
stdlib-only probe (`python3 -I -S`, in every sandbox image). The probe polls
`http://127.0.0.1:<port><ready_path>` (and `[::1]`) until the server answers with any
status, the server exits, or `startup_timeout_ms` passes; then it sends the test's request
and prints one JSON line (status, headers, body cut to BODY_LIMIT_BYTES, timings). The
server is reachable only from inside that run: the sandbox has no network but loopback.

Verdicts: "passed"/"failed" from the answer; "runtime_error" when the server exits
before it is ready or while answering (with its error output); "time_limit" when it is
never ready or does not answer in time.

health_check and check_response_json score as the reference autograder's functions of
those names and take its parameter names (`endpoint`, `expected_key`, `expected_value`):
100 or 0, the answer must have status 200 (check_response_json: before its JSON is
read), and redirects to the server itself are followed as its `requests` does. A
redirect out of the sandbox, or more than 30, fails the request.
"""

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, Field, model_validator

from contracts.results import TestVerdict
from contracts.sandbox import RunRequest, RunResult, Verdict
from shared.grading.errors import GradingError
from shared.grading.messages import say
from shared.grading.ports import GradeContext
from shared.grading.templates.base import Template, TestFunction, TestOutcome
from shared.grading.templates.program_run import (
    SHOWN_STDERR_CHARS,
    SHOWN_STDERR_LINES,
    Limits,
    ProgramParams,
    limits_for,
    resolve_command,
    shown,
)

BODY_LIMIT_BYTES = 32 * 1024
# The probe's JSON line may escape every body byte as \u00XX, plus up to 64 KiB of headers.
PROBE_OUTPUT_LIMIT_BYTES = 6 * BODY_LIMIT_BYTES + 64 * 1024
# Starting the probe's interpreter and a loaded machine, beyond the test's own timeouts.
PROBE_SLACK_MS = 3000
SHOWN_DIFFERENCES = 10
SHOWN_VALUE_CHARS = 200
# As Python's requests, which the reference autograder asks the server with.
MAX_REDIRECTS = 30
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

# Runs inside the sandbox: standard library only, and old enough Pythons (3.6+).
_PROBE_SOURCE = r"""
import http.client, json, os, socket, sys, time
from urllib.parse import urljoin, urlsplit

# IPv6 too: node binds "localhost" to ::1 only.
HOSTS = ("127.0.0.1", "::1")
LOOPBACK = ("localhost",) + HOSTS
REDIRECTS = (301, 302, 303, 307, 308)

def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            pass
        return True

def ask(spec, host, method, path, headers, body, timeout, port=None):
    connection = http.client.HTTPConnection(host, port or spec["port"], timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read(spec["body_limit"] + 1)
    finally:
        connection.close()

def describe(error):
    return "%s: %s" % (type(error).__name__, error)

def wait_until_ready(spec, pid):
    deadline = time.monotonic() + spec["startup_timeout_ms"] / 1000
    error = "no answer"
    while alive(pid):
        for host in HOSTS:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, {"outcome": "not_ready", "error": error}
            try:
                ask(spec, host, "GET", spec["ready_path"], {}, None, min(remaining, 1.0))
                return host, None
            except (OSError, http.client.HTTPException) as problem:
                error = describe(problem)
        time.sleep(0.05)
    return None, {"outcome": "exited"}

def next_hop(hop, status, headers):
    # Where a redirect leads, changing the method and body as Python's requests does;
    # None when the answer is not a redirect; a string saying why it cannot be followed.
    location = [value for name, value in headers if name.lower() == "location"]
    if status not in REDIRECTS or not location:
        return None
    base = "http://localhost:%d%s" % (hop["port"], hop["path"])
    target = urlsplit(urljoin(base, location[0]))
    if target.scheme != "http" or (target.hostname or "").lower() not in LOOPBACK:
        return "redirected to %s, outside the sandbox" % location[0]
    method, body, headers = hop["method"], hop["body"], dict(hop["headers"])
    if (status in (302, 303) and method != "HEAD") or (status == 301 and method == "POST"):
        method = "GET"
    if status not in (307, 308):
        body = None
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    path = (target.path or "/") + ("?" + target.query if target.query else "")
    return {"method": method, "path": path, "headers": headers, "body": body,
            "port": target.port or 80}

def request(spec, pid, host):
    wanted, started = spec["request"], time.monotonic()
    body = None if wanted["body"] is None else wanted["body"].encode("utf-8")
    hop = {"method": wanted["method"], "path": wanted["path"], "headers": wanted["headers"],
           "body": body, "port": spec["port"]}
    for followed in range(spec["max_redirects"] + 1):
        try:
            status, headers, data = ask(spec, host, hop["method"], hop["path"], hop["headers"],
                                        hop["body"], spec["request_timeout_ms"] / 1000,
                                        hop["port"])
        except socket.timeout:
            return {"outcome": "request_timeout"}
        except (OSError, http.client.HTTPException) as problem:
            time.sleep(0.1)  # a server crashing on this request: let it finish exiting
            return {"outcome": "request_failed", "error": describe(problem), "alive": alive(pid)}
        if spec["max_redirects"] == 0:
            break
        following = next_hop(hop, status, headers)
        if following is None:
            break
        if isinstance(following, str) or followed == spec["max_redirects"]:
            error = following if isinstance(following, str) else "too many redirects"
            return {"outcome": "request_failed", "error": error, "alive": True}
        hop = following
    limit = spec["body_limit"]
    return {"outcome": "response", "status": status, "headers": headers,
            "body": data[:limit].decode("utf-8", "replace"), "body_truncated": len(data) > limit,
            "response_ms": round((time.monotonic() - started) * 1000)}

spec, pid, started = json.loads(sys.argv[1]), int(sys.argv[2]), time.monotonic()
host, report = wait_until_ready(spec, pid)
startup_ms = round((time.monotonic() - started) * 1000)
report = report or request(spec, pid, host)
report["startup_ms"] = startup_ms
sys.stdout.buffer.write(json.dumps(report, ensure_ascii=False).encode("utf-8") + b"\n")
"""


def _no_stdin(inputs: list[str]) -> list[str]:
    if inputs:
        raise ValueError("a server started in the background reads no stdin; remove 'inputs'")
    return inputs


def _http_path(path: str) -> str:
    if not path.startswith("/") or any(char.isspace() or ord(char) < 32 for char in path):
        raise ValueError("must start with '/' and contain no spaces, like '/users?page=2'")
    return path


def _header_names(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if "\r" in value or "\n" in value:
            raise ValueError(f"the value of {name!r} must be on one line")
    return headers


HttpPath = Annotated[str, AfterValidator(_http_path)]
Headers = Annotated[dict[str, str], AfterValidator(_header_names)]


class ServerParams(ProgramParams):
    """How to start the server and how long to wait for it."""

    inputs: Annotated[list[str], AfterValidator(_no_stdin)] = Field(
        default_factory=list, description="Not used: a server reads no stdin."
    )
    port: int = Field(default=8000, ge=1, le=65535, description="The port the server listens on")
    startup_timeout_ms: int = Field(
        default=10_000, gt=0, le=120_000, description="How long the server may take to answer"
    )
    request_timeout_ms: int = Field(default=5000, gt=0, le=60_000)


FOLLOW_REDIRECTS_DESCRIPTION = (
    "Follow redirects to the server itself (up to 30), as the reference autograder's "
    "requests does, and judge the last answer"
)


class HealthCheckParams(ServerParams):
    path: HttpPath = Field(
        default="/health",
        validation_alias=AliasChoices("endpoint", "path"),
        description="The path to GET; the reference autograder's `endpoint`, also "
        "accepted as `path`",
    )
    expected_status: int = Field(default=200, ge=100, le=599)
    follow_redirects: bool = Field(default=True, description=FOLLOW_REDIRECTS_DESCRIPTION)


class RequestParams(ServerParams):
    """One request to the ready server; readiness is polled with GET `ready_path`."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    path: HttpPath = Field(
        validation_alias=AliasChoices("path", "endpoint"), description="Also as `endpoint`"
    )
    headers: Headers = Field(default_factory=dict)
    json_body: Any = Field(default=None, description="Sent as JSON when given")
    ready_path: HttpPath = Field(
        default="/health", description="Polled until the server answers it with any status"
    )
    follow_redirects: bool = Field(default=False, description=FOLLOW_REDIRECTS_DESCRIPTION)


class StatusCodeParams(RequestParams):
    expected_status: int = Field(ge=100, le=599)


class ResponseJsonParams(RequestParams):
    """The reference's form (`expected_key`, `expected_value`) or ours (`expected_json`)."""

    path: HttpPath = Field(
        validation_alias=AliasChoices("endpoint", "path"),
        description="The path to ask; the reference autograder's `endpoint`, also "
        "accepted as `path`",
    )
    expected_json: dict[str, Any] | None = Field(
        default=None,
        description="Every key must be in the answer with an equal value; nested objects "
        "are compared the same way, lists element by element.",
    )
    expected_key: str | None = Field(
        default=None,
        description="The reference's check: the answer is a JSON object whose value at "
        "this key equals `expected_value` (Python ==, so 1 equals true and 1.0; a missing "
        "key equals null).",
    )
    expected_value: Any = None
    expected_status: int | None = Field(
        default=200,
        ge=100,
        le=599,
        description="The status the answer must have before its JSON is looked at; "
        "null accepts any",
    )
    follow_redirects: bool = Field(default=True, description=FOLLOW_REDIRECTS_DESCRIPTION)

    @model_validator(mode="after")
    def _one_expectation(self) -> "ResponseJsonParams":
        if (self.expected_json is None) == (self.expected_key is None):
            raise ValueError("give either expected_json or expected_key with expected_value")
        if self.expected_key is None and "expected_value" in self.model_fields_set:
            raise ValueError("expected_value needs expected_key")
        return self


class HeadersParams(RequestParams):
    expected_headers: Headers = Field(
        description='Header name (any case) -> exact value, or "*" for any value'
    )


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: str | None
    follow_redirects: bool = False

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: str
    body_truncated: bool
    response_ms: int

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


@dataclass(frozen=True)
class JsonDifference:
    where: str  # like $.user.tags[0]
    expected: Any
    actual: Any
    missing: bool = False


Facts = dict[str, Any]  # what a message about an answer may say

# What went wrong before there was an answer to grade: (verdict, catalogue key).
_PROBLEMS: dict[str, tuple[TestVerdict, str]] = {
    "exited": ("runtime_error", "api.server_exited"),
    "out_of_memory": ("memory_limit", "api.memory_limit"),
    "not_ready": ("time_limit", "api.not_ready"),
    "request_timeout": ("time_limit", "api.request_timeout"),
    "request_crashed": ("runtime_error", "api.request_crashed"),
    "request_failed": ("failed", "api.request_failed"),
    "output_limit": ("output_limit", "api.output_limit"),
    "run_time_limit": ("time_limit", "api.run_time_limit"),
}


# --- one run: start, wait, ask ---------------------------------------------------------


async def ask_server(
    ctx: GradeContext, params: ServerParams, ready_path: str, request: HttpRequest
) -> Response | TestOutcome:
    """The server's answer to `request`, or the outcome when there is none to grade."""
    if ctx.runner is None:
        raise GradingError("this test runs the program, but no sandbox was provided")
    command = resolve_command(params.program_command, ctx.language)
    run = _run_request(command, params, ready_path, request, limits_for(ctx, params))
    result = await ctx.runner.run(run)
    report = _probe_report(result)
    if report is None or report["outcome"] != "response":
        problem = _problem(report, result)
        return _problem_outcome(ctx, problem, params, request, report or {}, result)
    return Response(
        status=report["status"],
        headers=[(name, value) for name, value in report["headers"]],
        body=report["body"],
        body_truncated=report["body_truncated"],
        response_ms=report["response_ms"],
    )


def _run_request(
    command: str, params: ServerParams, ready_path: str, request: HttpRequest, limits: Limits
) -> RunRequest:
    return RunRequest(
        shell=_probe_shell(command, _probe_spec(params, ready_path, request)),
        cpu_time_limit_ms=limits.time_ms,
        wall_time_limit_ms=_waited_ms(params) + PROBE_SLACK_MS,
        memory_limit_mb=limits.memory_mb,
        output_limit_bytes=_output_limit(limits),
    )


def _probe_spec(params: ServerParams, ready_path: str, request: HttpRequest) -> dict[str, Any]:
    return {
        "port": params.port,
        "ready_path": ready_path,
        "startup_timeout_ms": params.startup_timeout_ms,
        "request_timeout_ms": params.request_timeout_ms,
        "body_limit": BODY_LIMIT_BYTES,
        "max_redirects": MAX_REDIRECTS if request.follow_redirects else 0,
        "request": {
            "method": request.method,
            "path": request.path,
            "headers": request.headers,
            "body": request.body,
        },
    }


def _probe_shell(command: str, spec: dict[str, Any]) -> str:
    # The student's command comes first and verbatim: the local backend picks the heap
    # limit of java and node from the command's first word. `$!` is the server's pid.
    probe = f"python3 -I -S -c {shlex.quote(_PROBE_SOURCE)} {shlex.quote(json.dumps(spec))}"
    return f'{command} >&2 &\nexec {probe} "$!"\n'


def _output_limit(limits: Limits) -> int:
    return max(limits.output_bytes, PROBE_OUTPUT_LIMIT_BYTES)


def _waited_ms(params: ServerParams) -> int:
    return params.startup_timeout_ms + params.request_timeout_ms


def _probe_report(result: RunResult) -> dict[str, Any] | None:
    """The probe's JSON line (the last line of stdout), or None when it printed none."""
    lines = result.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    return report if isinstance(report, dict) and "outcome" in report else None


def _problem(report: dict[str, Any] | None, result: RunResult) -> str:
    """Which of _PROBLEMS kept the server from answering."""
    if report is None:
        by_verdict = {Verdict.OUTPUT_LIMIT: "output_limit", Verdict.TIME_LIMIT: "run_time_limit"}
        if result.verdict in by_verdict:
            return by_verdict[result.verdict]
        raise GradingError(
            f"the API probe reported nothing (exit code {result.exit_code}, verdict "
            f"{result.verdict}); the run's error output ends with {result.stderr[-500:]!r}"
        )
    outcome = str(report["outcome"])
    if outcome == "exited" and result.verdict is Verdict.MEMORY_LIMIT:
        return "out_of_memory"
    if outcome == "request_failed" and not report.get("alive", True):
        return "request_crashed"
    return outcome


def _problem_outcome(
    ctx: GradeContext,
    problem: str,
    params: ServerParams,
    request: HttpRequest,
    report: dict[str, Any],
    result: RunResult,
) -> TestOutcome:
    verdict, key = _PROBLEMS[problem]
    limits = limits_for(ctx, params)
    # Every fact is offered; each message's placeholders take the ones it needs.
    message = say(
        ctx,
        key,
        port=params.port,
        request=request.label,
        startup_timeout_ms=params.startup_timeout_ms,
        request_timeout_ms=params.request_timeout_ms,
        waited_ms=_waited_ms(params),
        memory_limit_mb=limits.memory_mb,
        output_limit_bytes=_output_limit(limits),
        error=report.get("error", ""),
        stderr=_stderr_tail(ctx, result.stderr),
    )
    return TestOutcome(score=0, verdict=verdict, message=message, actual=shown(ctx, result.stderr))


def _stderr_tail(ctx: GradeContext, stderr: str) -> str:
    lines = stderr.rstrip().splitlines()[-SHOWN_STDERR_LINES:]
    tail = "\n".join(lines)[-SHOWN_STDERR_CHARS:]
    return say(ctx, "api.stderr_tail", tail=tail) if tail else ""


# --- grading the answer ----------------------------------------------------------------


def _graded(
    ctx: GradeContext,
    answer: Response,
    passed: bool,
    key: str,
    *,
    expected: str,
    actual: str,
    **texts: object,
) -> TestOutcome:
    """The outcome of grading an answer; `texts` fill the message's placeholders."""
    return TestOutcome(
        score=100 if passed else 0,
        verdict="passed" if passed else "failed",
        message=say(ctx, key, **texts),
        time_ms=answer.response_ms,
        expected=expected,
        actual=actual,
    )


def _status_outcome(
    ctx: GradeContext, request: HttpRequest, answer: Response, expected_status: int
) -> TestOutcome:
    passed = answer.status == expected_status
    return _graded(
        ctx,
        answer,
        passed,
        "api.passed.status" if passed else "api.failed.status",
        request=request.label,
        status=answer.status,
        expected_status=expected_status,
        expected=str(expected_status),
        actual=str(answer.status),
    )


def _json_facts(ctx: GradeContext, request: HttpRequest, answer: Response, expected: Any) -> Facts:
    return {
        "request": request.label,
        "status": answer.status,
        "expected": json.dumps(expected, indent=2, ensure_ascii=False),
        "actual": shown(ctx, answer.body),
    }


def _parsed_body(ctx: GradeContext, answer: Response, facts: Facts) -> Any:
    """The answer's JSON, or the failing outcome when it has none to check."""
    if answer.body_truncated:
        return _graded(ctx, answer, False, "api.failed.too_long", limit=BODY_LIMIT_BYTES, **facts)
    try:
        return json.loads(answer.body)
    except ValueError:
        start = _short(json.dumps(answer.body, ensure_ascii=False))
        return _graded(ctx, answer, False, "api.failed.not_json", body_start=start, **facts)


def _json_outcome(
    ctx: GradeContext, request: HttpRequest, answer: Response, expected_json: dict[str, Any]
) -> TestOutcome:
    facts = _json_facts(ctx, request, answer, expected_json)
    received = _parsed_body(ctx, answer, facts)
    if isinstance(received, TestOutcome):
        return received
    differences = json_differences(expected_json, received)
    if not differences:
        return _graded(ctx, answer, True, "api.passed.json", **facts)
    lines = [_difference_line(ctx, difference) for difference in differences]
    listed = _listed(ctx, lines)
    return _graded(ctx, answer, False, "api.failed.json", differences=listed, **facts)


def _key_outcome(
    ctx: GradeContext, request: HttpRequest, answer: Response, key: str, value: Any
) -> TestOutcome:
    """The reference's rule: a JSON object whose `key` holds a value == `value`, where a
    missing key holds null (dict.get)."""
    facts = _json_facts(ctx, request, answer, {key: value})
    received = _parsed_body(ctx, answer, facts)
    if isinstance(received, TestOutcome):
        return received
    if not isinstance(received, dict):
        return _graded(ctx, answer, False, "api.failed.not_object", **facts)
    actual = received.get(key)
    texts = {"field": json.dumps(key, ensure_ascii=False), "value": _json_text(value)}
    if actual == value:
        return _graded(ctx, answer, True, "api.passed.json_key", **texts, **facts)
    if key not in received:
        return _graded(ctx, answer, False, "api.failed.json_key_missing", **texts, **facts)
    found = _json_text(actual)
    return _graded(ctx, answer, False, "api.failed.json_key", found=found, **texts, **facts)


def _json_text(value: Any) -> str:
    return _short(json.dumps(value, ensure_ascii=False))


def _headers_outcome(
    ctx: GradeContext, request: HttpRequest, answer: Response, expected: dict[str, str]
) -> TestOutcome:
    problems = [
        _header_line(ctx, name, wanted, answer.header_values(name))
        for name, wanted in expected.items()
        if not _header_matches(wanted, answer.header_values(name))
    ]
    return _graded(
        ctx,
        answer,
        not problems,
        "api.failed.headers" if problems else "api.passed.headers",
        request=request.label,
        status=answer.status,
        problems=_listed(ctx, problems),
        expected="\n".join(f"{name}: {value}" for name, value in expected.items()),
        actual="\n".join(f"{name}: {value}" for name, value in answer.headers),
    )


def json_differences(expected: Any, actual: Any, where: str = "$") -> list[JsonDifference]:
    """Where `actual` fails to contain `expected`: objects may have more keys than
    expected, lists must have the same length, other values must be equal."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [JsonDifference(where, expected, actual)]
        return [
            difference
            for key, value in expected.items()
            for difference in _member_differences(key, value, actual, where)
        ]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [JsonDifference(where, expected, actual)]
        pairs = enumerate(zip(expected, actual, strict=True))
        return [d for i, (e, a) in pairs for d in json_differences(e, a, f"{where}[{i}]")]
    return [] if _same_value(expected, actual) else [JsonDifference(where, expected, actual)]


def _member_differences(
    key: str, expected: Any, actual: dict[str, Any], where: str
) -> list[JsonDifference]:
    inner = f"{where}.{key}" if key.isidentifier() else f"{where}[{json.dumps(key)}]"
    if key not in actual:
        return [JsonDifference(inner, expected, None, missing=True)]
    return json_differences(expected, actual[key], inner)


def _same_value(expected: Any, actual: Any) -> bool:
    # Python has True == 1; JSON's true and 1 are different values.
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    return bool(expected == actual)


def _header_matches(wanted: str, values: list[str]) -> bool:
    return bool(values) and (wanted == "*" or wanted in values)


def _difference_line(ctx: GradeContext, difference: JsonDifference) -> str:
    expected = _short(json.dumps(difference.expected, ensure_ascii=False))
    if difference.missing:
        return say(ctx, "api.json.missing", where=difference.where, expected=expected)
    actual = _short(json.dumps(difference.actual, ensure_ascii=False))
    return say(ctx, "api.json.different", where=difference.where, expected=expected, actual=actual)


def _header_line(ctx: GradeContext, name: str, wanted: str, values: list[str]) -> str:
    if not values:
        return say(ctx, "api.header.missing", name=name)
    actual = ", ".join(_short(json.dumps(value, ensure_ascii=False)) for value in values)
    expected = _short(json.dumps(wanted, ensure_ascii=False))
    return say(ctx, "api.header.different", name=name, expected=expected, actual=actual)


def _listed(ctx: GradeContext, lines: list[str]) -> str:
    shown_lines = lines[:SHOWN_DIFFERENCES]
    if len(lines) > SHOWN_DIFFERENCES:
        shown_lines.append(say(ctx, "api.more", count=len(lines) - SHOWN_DIFFERENCES))
    return "\n".join(shown_lines)


def _short(text: str) -> str:
    return text if len(text) <= SHOWN_VALUE_CHARS else text[:SHOWN_VALUE_CHARS] + "…"


# --- the test functions ----------------------------------------------------------------


def _http_request(params: RequestParams) -> HttpRequest:
    headers = dict(params.headers)
    body = None
    if params.json_body is not None:
        body = json.dumps(params.json_body, ensure_ascii=False)
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    return HttpRequest(params.method, params.path, headers, body, params.follow_redirects)


Judge = Callable[[Response], TestOutcome]


async def _graded_answer(
    ctx: GradeContext, params: ServerParams, ready_path: str, request: HttpRequest, judge: Judge
) -> TestOutcome:
    """Start the server, ask once, and judge the answer (or report why there is none)."""
    answer = await ask_server(ctx, params, ready_path, request)
    return answer if isinstance(answer, TestOutcome) else judge(answer)


async def health_check(ctx: GradeContext, params: HealthCheckParams) -> TestOutcome:
    request = HttpRequest("GET", params.path, {}, None, params.follow_redirects)
    return await _graded_answer(
        ctx,
        params,
        params.path,
        request,
        lambda answer: _status_outcome(ctx, request, answer, params.expected_status),
    )


async def _ask_and_judge(
    ctx: GradeContext, params: RequestParams, judge: Callable[[HttpRequest, Response], TestOutcome]
) -> TestOutcome:
    """The three checks that send the instructor's request once the server is ready."""
    request = _http_request(params)
    return await _graded_answer(
        ctx, params, params.ready_path, request, lambda answer: judge(request, answer)
    )


async def check_status_code(ctx: GradeContext, params: StatusCodeParams) -> TestOutcome:
    return await _ask_and_judge(
        ctx, params, lambda req, answer: _status_outcome(ctx, req, answer, params.expected_status)
    )


async def check_response_json(ctx: GradeContext, params: ResponseJsonParams) -> TestOutcome:
    return await _ask_and_judge(
        ctx, params, lambda req, answer: _response_json_outcome(ctx, params, req, answer)
    )


def _response_json_outcome(
    ctx: GradeContext, params: ResponseJsonParams, request: HttpRequest, answer: Response
) -> TestOutcome:
    # The reference scores 0 for any status but 200 before reading the JSON.
    if params.expected_status is not None and answer.status != params.expected_status:
        return _status_outcome(ctx, request, answer, params.expected_status)
    if params.expected_json is not None:
        return _json_outcome(ctx, request, answer, params.expected_json)
    # The params' validator makes expected_key present when expected_json is not.
    return _key_outcome(ctx, request, answer, str(params.expected_key), params.expected_value)


async def check_headers(ctx: GradeContext, params: HeadersParams) -> TestOutcome:
    return await _ask_and_judge(
        ctx,
        params,
        lambda req, answer: _headers_outcome(ctx, req, answer, params.expected_headers),
    )


HEALTH_CHECK = TestFunction(
    name="health_check",
    description="Starts the server and passes when GET `path` answers `expected_status`.",
    params_model=HealthCheckParams,
    run=health_check,
)
CHECK_STATUS_CODE = TestFunction(
    name="check_status_code",
    description="Starts the server, sends one request and compares the status code.",
    params_model=StatusCodeParams,
    run=check_status_code,
)
CHECK_RESPONSE_JSON = TestFunction(
    name="check_response_json",
    description="Starts the server, sends one request and checks that the JSON answer "
    "contains `expected_json` (extra keys are allowed).",
    params_model=ResponseJsonParams,
    run=check_response_json,
)
CHECK_HEADERS = TestFunction(
    name="check_headers",
    description="Starts the server, sends one request and checks the answer's headers.",
    params_model=HeadersParams,
    run=check_headers,
)
API = Template(
    name="api",
    requires_sandbox=True,
    functions={
        function.name: function
        for function in (HEALTH_CHECK, CHECK_STATUS_CODE, CHECK_RESPONSE_JSON, CHECK_HEADERS)
    },
    description="Starts the student's HTTP server inside the sandbox and checks its answers.",
)
