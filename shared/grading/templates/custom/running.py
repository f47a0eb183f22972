"""Running one custom test function in the submission's sandbox and reading its verdict.

The harness (harness.py) is the program: `python3 -I -c <harness>`, with the module and
the call as JSON on stdin. Its reply becomes the outcome: passed/failed with the
instructor's message, a limit verdict like input_output's, or "error" when the check
itself broke (a grading-setup problem: the student reads a short reason, the instructor's
traceback goes to the log).
"""

import contextlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import BaseModel, Field, ValidationError

from contracts.results import TestVerdict
from contracts.sandbox import RunRequest, RunResult, Verdict
from shared.grading.errors import GradingError
from shared.grading.messages import say
from shared.grading.ports import GradeContext
from shared.grading.templates.base import TestOutcome
from shared.grading.templates.program_run import run_outcome

log = structlog.get_logger()
SHOWN_MESSAGE_CHARS = 2000
TRACEBACK_CHARS = 3000
_LIMIT_VERDICTS: dict[Verdict, TestVerdict] = {
    Verdict.TIME_LIMIT: "time_limit",
    Verdict.MEMORY_LIMIT: "memory_limit",
    Verdict.OUTPUT_LIMIT: "output_limit",
}


@dataclass(frozen=True)
class HarnessCall:
    """Which function of which module to call, with which arguments."""

    template: str
    source: str
    function: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class CheckLimits:
    time_ms: int
    memory_mb: int
    output_bytes: int


@cache
def harness_source() -> str:
    return (Path(__file__).parent / "harness.py").read_text(encoding="utf-8")


async def run_check(
    ctx: GradeContext, call: HarnessCall, time_limit_ms: int | None, memory_limit_mb: int | None
) -> TestOutcome:
    if ctx.runner is None:
        raise GradingError("this custom test runs in the sandbox, but none was provided")
    limits = CheckLimits(
        time_ms=time_limit_ms or ctx.default_time_limit_ms,
        memory_mb=memory_limit_mb or ctx.default_memory_limit_mb,
        output_bytes=ctx.output_limit_bytes,
    )
    result = await ctx.runner.run(harness_request(call, ctx.language, limits))
    return outcome_of(ctx, call, result, limits)


def harness_request(call: HarnessCall, language: str, limits: CheckLimits) -> RunRequest:
    body = {
        "module": call.template,
        "source": call.source,
        "function": call.function,
        "arguments": call.arguments,
        "language": language,
    }
    return RunRequest(
        argv=["python3", "-I", "-c", harness_source()],
        stdin=json.dumps(body),
        cpu_time_limit_ms=limits.time_ms,
        # As for input_output: generous wall time, so a loaded machine is not a slow check.
        wall_time_limit_ms=max(3 * limits.time_ms, limits.time_ms + 1000),
        memory_limit_mb=limits.memory_mb,
        output_limit_bytes=limits.output_bytes,
    )


def outcome_of(
    ctx: GradeContext, call: HarnessCall, result: RunResult, limits: CheckLimits
) -> TestOutcome:
    if result.verdict in _LIMIT_VERDICTS:
        return _limit_outcome(ctx, _LIMIT_VERDICTS[result.verdict], result, limits)
    reply = _reply(result)
    if reply.status == "memory_limit":
        return _limit_outcome(ctx, "memory_limit", result, limits)
    if reply.status == "ok":
        return _scored(ctx, result, reply.score, reply.message)
    return _setup_error(ctx, call, result, reply)


class Reply(BaseModel):
    """The harness's reply (see harness.py); anything else counts as "no_result"."""

    status: Literal["ok", "memory_limit", "error"]
    score: float = Field(default=0, ge=0, le=100)
    message: str | None = None
    kind: Literal[
        "load", "exception", "missing_function", "bad_result", "score_out_of_range", "no_result"
    ] = "no_result"
    exception: str = Field(default="?", max_length=200)
    # bad_result: the returned type; score_out_of_range: the score; no_result: exit code.
    returned: str = Field(default="?", max_length=200)
    traceback: str = ""


def _reply(result: RunResult) -> Reply:
    """The last line of stdout when it is a reply; else why there is none."""
    lines = result.stdout.strip().splitlines()
    with contextlib.suppress(ValidationError):
        return Reply.model_validate_json(lines[-1] if lines else "")
    # The run ended before the harness replied (e.g. the check called os._exit).
    return Reply(
        status="error",
        kind="no_result",
        returned=str(result.exit_code),
        traceback=result.stderr[-TRACEBACK_CHARS:],
    )


def _scored(ctx: GradeContext, result: RunResult, score: float, message: str | None) -> TestOutcome:
    verdict: TestVerdict = "passed" if score == 100 else "failed"
    if message is None or not message.strip():
        key = "custom.partial" if 0 < score < 100 else f"custom.{verdict}"
        message = say(ctx, key, score=round(score, 2))
    return run_outcome(result, score, verdict, message[:SHOWN_MESSAGE_CHARS])


def _limit_outcome(
    ctx: GradeContext, verdict: TestVerdict, result: RunResult, limits: CheckLimits
) -> TestOutcome:
    message = say(
        ctx,
        f"custom.{verdict}",
        time_ms=limits.time_ms,
        memory_mb=limits.memory_mb,
        output_bytes=limits.output_bytes,
    )
    return run_outcome(result, 0, verdict, message)


def _setup_error(
    ctx: GradeContext, call: HarnessCall, result: RunResult, reply: Reply
) -> TestOutcome:
    # The traceback is for the instructor: students read the result tree.
    log.warning(
        "custom_check_failed",
        template=call.template,
        function=call.function,
        kind=reply.kind,
        traceback=reply.traceback,
    )
    # Short facts only: an exception's text could reveal the check's expected answers.
    reason = say(
        ctx,
        f"custom.reason.{reply.kind}",
        function=call.function,
        exception=reply.exception,
        returned=reply.returned,
    )
    message = say(ctx, "custom.error", reason=reason)
    return run_outcome(result, 0, "error", f"{message} {say(ctx, 'common.not_the_students_fault')}")
