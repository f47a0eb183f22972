"""Running the student's program once and judging how the run ended.

Shared by the test functions that execute the program: which command to run, with which
limits and stdin, and whether the run hit a limit or crashed before any output check.
"""

import signal
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from contracts.config import KNOWN_LANGUAGES, MemoryLimitMb, TimeLimitMs
from contracts.results import Measured, TestVerdict
from contracts.sandbox import RunRequest, RunResult, Verdict
from shared.grading.errors import GradingError
from shared.grading.messages import say
from shared.grading.ports import GradeContext
from shared.grading.templates.base import TestOutcome

LANGUAGE_DEFAULT = "CMD"
DEFAULT_COMMANDS = {
    "python": "python3 main.py",
    "java": "java Main",
    "node": "node index.js",
    "c": "./a.out",
    "cpp": "./a.out",
}
SHOWN_OUTPUT_CHARS = 2000
SHOWN_STDERR_LINES = 15
SHOWN_STDERR_CHARS = 1000
# Runtimes that print these on stderr ran out of memory before the sandbox noticed.
OUT_OF_MEMORY_MARKERS = ("MemoryError", "java.lang.OutOfMemoryError", "std::bad_alloc")
_LIMIT_VERDICTS: dict[Verdict, TestVerdict] = {
    Verdict.TIME_LIMIT: "time_limit",
    Verdict.MEMORY_LIMIT: "memory_limit",
    Verdict.OUTPUT_LIMIT: "output_limit",
}


def _program_command(command: Any) -> Any:
    """Checks the shape up front: pydantic's own union errors would name its internals."""
    if isinstance(command, str) and command:
        return command
    if not isinstance(command, dict) or not command:
        raise ValueError('must be a command, "CMD", or a map from language to command')
    unknown = sorted(set(command) - set(KNOWN_LANGUAGES))
    if unknown:
        raise ValueError(f"unknown language(s) {unknown}; known: {list(KNOWN_LANGUAGES)}")
    if not all(isinstance(value, str) and value for value in command.values()):
        raise ValueError("every language must map to a non-empty command")
    return command


class ProgramParams(BaseModel):
    """Parameters of every test function that runs the program."""

    # Instructors write `"inputs": [5, 3]` as often as `["5", "3"]`; both mean the same stdin.
    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)

    inputs: list[str] = Field(default_factory=list, description="stdin lines, one per item")
    program_command: Annotated[str | dict[str, str], BeforeValidator(_program_command)] = Field(
        default=LANGUAGE_DEFAULT,
        description='A shell command, a map {"python": "...", "java": "..."}, or "CMD" '
        "for the language's default command.",
    )
    time_limit_ms: TimeLimitMs | None = None
    memory_limit_mb: MemoryLimitMb | None = None


@dataclass(frozen=True)
class Limits:
    time_ms: int
    memory_mb: int
    output_bytes: int


def limits_for(ctx: GradeContext, params: ProgramParams) -> Limits:
    return Limits(
        time_ms=params.time_limit_ms or ctx.default_time_limit_ms,
        memory_mb=params.memory_limit_mb or ctx.default_memory_limit_mb,
        output_bytes=ctx.output_limit_bytes,
    )


def resolve_command(command: str | dict[str, str], language: str) -> str:
    """The shell command for `language`; raises GradingError when the config has none."""
    if isinstance(command, dict):
        if language not in command:
            raise GradingError(
                f"program_command has no entry for {language!r}; it has {sorted(command)}"
            )
        command = command[language]
    if command != LANGUAGE_DEFAULT:
        return command
    if language not in DEFAULT_COMMANDS:
        raise GradingError(f"no default program command for language {language!r}")
    return DEFAULT_COMMANDS[language]


def stdin_for(inputs: list[str]) -> str:
    # As the reference autograder's `echo`: the lines joined, then one newline, so no
    # inputs is one empty line (a program reading a line gets "", not end of input).
    return "\n".join(inputs) + "\n"


def run_request(command: str, inputs: list[str], limits: Limits) -> RunRequest:
    return RunRequest(
        shell=command,
        stdin=stdin_for(inputs),
        cpu_time_limit_ms=limits.time_ms,
        # Wall time is generous so a loaded machine is not mistaken for a slow program.
        wall_time_limit_ms=max(3 * limits.time_ms, limits.time_ms + 1000),
        memory_limit_mb=limits.memory_mb,
        output_limit_bytes=limits.output_bytes,
    )


async def run_program(
    ctx: GradeContext, params: ProgramParams, limits: Limits, inputs: list[str] | None = None
) -> RunResult:
    """Runs the program on `inputs` (by default the test's `inputs`) as stdin lines."""
    if ctx.runner is None:
        raise GradingError("this test runs the program, but no sandbox was provided")
    command = resolve_command(params.program_command, ctx.language)
    stdin_lines = params.inputs if inputs is None else inputs
    return await ctx.runner.run(run_request(command, stdin_lines, limits))


def run_failure(
    ctx: GradeContext, result: RunResult, limits: Limits, expected_exit_code: int | None
) -> TestOutcome | None:
    """Why the run already fails the test before its output is looked at; None if it ran."""
    if result.verdict in _LIMIT_VERDICTS:
        return _limit_outcome(ctx, result.verdict, result, limits)
    # Only a run that did not end cleanly: exit code 0 passes, as in the reference, even
    # when stderr mentions MemoryError.
    if not _exited_as_expected(result, None) and any(
        marker in result.stderr for marker in OUT_OF_MEMORY_MARKERS
    ):
        return _limit_outcome(ctx, Verdict.MEMORY_LIMIT, result, limits)
    if not _exited_as_expected(result, expected_exit_code):
        message = _crash_message(ctx, result, expected_exit_code) + _stderr_tail(ctx, result)
        return measured_outcome(ctx, result, 0, "runtime_error", message)
    return None


def measured_outcome(
    ctx: GradeContext, result: RunResult, score: float, verdict: TestVerdict, message: str
) -> TestOutcome:
    """An outcome carrying what the sandbox measured and the (shortened) stdout."""
    return run_outcome(result, score, verdict, message, actual=shown(ctx, result.stdout))


def run_outcome(
    result: RunResult, score: float, verdict: TestVerdict, message: str, actual: str | None = None
) -> TestOutcome:
    """An outcome carrying what the sandbox measured of the run."""
    return TestOutcome(
        score=score,
        verdict=verdict,
        message=message,
        time_ms=result.cpu_ms,
        memory_kb=result.peak_memory_kb,
        actual=actual,
        measured=Measured.of(result),
    )


def shown(ctx: GradeContext, text: str) -> str:
    """`text` cut to what a feedback page can show."""
    if len(text) <= SHOWN_OUTPUT_CHARS:
        return text
    hidden = len(text) - SHOWN_OUTPUT_CHARS
    return f"{text[:SHOWN_OUTPUT_CHARS]}\n" + say(ctx, "input_output.output_cut", hidden=hidden)


def _limit_outcome(
    ctx: GradeContext, verdict: Verdict, result: RunResult, limits: Limits
) -> TestOutcome:
    message = _limit_message(ctx, verdict, limits)
    return measured_outcome(ctx, result, 0, _LIMIT_VERDICTS[verdict], message)


def _limit_message(ctx: GradeContext, verdict: Verdict, limits: Limits) -> str:
    if verdict is Verdict.TIME_LIMIT:
        return say(ctx, "input_output.time_limit", limit_ms=limits.time_ms)
    if verdict is Verdict.MEMORY_LIMIT:
        return say(ctx, "input_output.memory_limit", limit_mb=limits.memory_mb)
    return say(ctx, "input_output.output_limit", limit_bytes=limits.output_bytes)


def _exited_as_expected(result: RunResult, expected_exit_code: int | None) -> bool:
    wanted = 0 if expected_exit_code is None else expected_exit_code
    return result.signal is None and result.exit_code == wanted


def _crash_message(ctx: GradeContext, result: RunResult, expected_exit_code: int | None) -> str:
    if result.signal is not None:
        return say(ctx, "input_output.stopped_by_signal", signal=_signal_name(result.signal))
    if result.exit_code is None:
        return say(ctx, "input_output.did_not_finish")
    if expected_exit_code is None:
        return say(ctx, "input_output.crashed", exit_code=result.exit_code)
    return say(
        ctx,
        "input_output.wrong_exit_code",
        exit_code=result.exit_code,
        expected_exit_code=expected_exit_code,
    )


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} ({number})"
    except ValueError:
        return str(number)


def _stderr_tail(ctx: GradeContext, result: RunResult) -> str:
    lines = result.stderr.rstrip().splitlines()[-SHOWN_STDERR_LINES:]
    tail = "\n".join(lines)[-SHOWN_STDERR_CHARS:]
    return "\n" + say(ctx, "input_output.stderr_tail", tail=tail) if tail else ""
