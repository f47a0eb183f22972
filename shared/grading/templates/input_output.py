"""The `input_output` template: run the program with given stdin and check how it behaves:
what it prints (expect_output), that it ends cleanly (dont_fail), or a file it writes in
its working directory (expect_file_artifact)."""

from pathlib import PurePosixPath
from typing import Annotated, Literal

import regex
from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from contracts.sandbox import RunRequest, RunResult
from shared.grading.errors import GradingError
from shared.grading.messages import say
from shared.grading.ports import GradeContext, ProgramRunner
from shared.grading.templates.base import Template, TestFunction, TestOutcome, amended
from shared.grading.templates.output_compare import NormalizeMode, first_difference
from shared.grading.templates.program_run import (
    Limits,
    ProgramParams,
    limits_for,
    measured_outcome,
    run_failure,
    run_program,
    shown,
)


class ExpectOutputParams(ProgramParams):
    expected_output: str
    expected_exit_code: int | None = None
    normalize: NormalizeMode = "trailing_whitespace"


def _workspace_path(path: str) -> str:
    if not path.strip() or any(ord(char) < 32 for char in path) or "\\" in path:
        raise ValueError("must be a non-empty file path like 'out/result.txt'")
    if path.startswith("/") or ".." in PurePosixPath(path).parts:
        raise ValueError("must be relative to the program's working directory, without '..'")
    if path.endswith("/") or PurePosixPath(path).name in ("", "."):
        raise ValueError("must name a file, not a directory")
    return str(PurePosixPath(path))  # "./out//a.txt" -> "out/a.txt"


ArtifactMatch = Literal["exact", "contains", "regex"]


class ExpectFileArtifactParams(ProgramParams):
    # `match` comes before `normalize` and `expected_content`: their validators read it.
    artifact_path: Annotated[str, AfterValidator(_workspace_path)] = Field(
        description="The file the program writes, relative to its working directory"
    )
    match: ArtifactMatch = Field(
        default="exact",
        description='"exact": the whole file (after `normalize`); "contains": the file '
        'contains `expected_content`; "regex": re.search of the pattern `expected_content`',
    )
    normalize: NormalizeMode = Field(
        default="trailing_whitespace", description='As in expect_output; only for "exact"'
    )
    expected_content: str
    expected_exit_code: int | None = None

    @field_validator("normalize")
    @classmethod
    def _normalize_only_when_exact(cls, normalize: NormalizeMode, info: ValidationInfo) -> str:
        # Runs only when given: a default is not validated.
        if info.data.get("match", "exact") != "exact":
            raise ValueError('applies only to match "exact"; a regex can use flags like (?i)')
        return normalize

    @field_validator("expected_content")
    @classmethod
    def _valid_pattern(cls, content: str, info: ValidationInfo) -> str:
        if info.data.get("match") == "regex":
            try:
                regex.compile(content)
            except regex.error as error:
                raise ValueError(f"not a valid regular expression: {error}") from None
        return content


async def expect_output(ctx: GradeContext, params: ExpectOutputParams) -> TestOutcome:
    limits = limits_for(ctx, params)
    result = await run_program(ctx, params, limits)
    failure = run_failure(ctx, result, limits, params.expected_exit_code)
    if failure is not None:
        return amended(failure, expected=shown(ctx, params.expected_output))
    return _compare_output(ctx, params, result)


async def dont_fail(ctx: GradeContext, params: ProgramParams) -> TestOutcome:
    limits = limits_for(ctx, params)
    result = await run_program(ctx, params, limits)
    failure = run_failure(ctx, result, limits, expected_exit_code=None)
    if failure is not None:
        return failure
    return measured_outcome(ctx, result, 100, "passed", say(ctx, "input_output.ran_cleanly"))


async def expect_file_artifact(ctx: GradeContext, params: ExpectFileArtifactParams) -> TestOutcome:
    limits = limits_for(ctx, params)
    await _remove_artifact(ctx, params.artifact_path, limits)
    result = await run_program(ctx, params, limits)
    failure = run_failure(ctx, result, limits, params.expected_exit_code)
    if failure is not None:
        return amended(failure, expected=shown(ctx, params.expected_content))
    content = await _read_artifact(ctx, params.artifact_path)
    if content is None:
        message = say(ctx, "input_output.artifact_missing", path=params.artifact_path)
        outcome = measured_outcome(ctx, result, 0, "failed", message)
        return amended(outcome, expected=shown(ctx, params.expected_content), actual=None)
    return _compare_artifact(ctx, params, result, content)


def _compare_output(
    ctx: GradeContext, params: ExpectOutputParams, result: RunResult
) -> TestOutcome:
    diff_line = first_difference(params.expected_output, result.stdout, params.normalize)
    if diff_line is None:
        message = say(ctx, "input_output.expected_output_printed")
        return measured_outcome(ctx, result, 100, "passed", message)
    message = say(ctx, "input_output.wrong_output", line=diff_line)
    if params.normalize != "whitespace":
        message += "\n" + _line_pair(ctx, params.expected_output, result.stdout, diff_line)
    outcome = measured_outcome(ctx, result, 0, "failed", message)
    expected = shown(ctx, params.expected_output)
    return amended(outcome, expected=expected, first_diff_line=diff_line)


def _line_pair(
    ctx: GradeContext,
    expected: str,
    actual: str,
    number: int,
    ended: str = "input_output.output_ended",
) -> str:
    return say(
        ctx,
        "input_output.expected_and_got",
        expected=_line(ctx, expected, number, ended),
        actual=_line(ctx, actual, number, ended),
    )


def _line(ctx: GradeContext, text: str, number: int, ended: str) -> str:
    lines = text.splitlines()
    if number > len(lines):
        return say(ctx, ended)
    return repr(lines[number - 1])


async def _remove_artifact(ctx: GradeContext, path: str, limits: Limits) -> None:
    """Deletes the file before the run, so that only what this run writes is graded: not
    a file the submission brought along, nor one an earlier test's run left behind."""
    removal = RunRequest(
        argv=["rm", "-f", "--", path],
        cpu_time_limit_ms=1000,
        wall_time_limit_ms=5000,
        memory_limit_mb=limits.memory_mb,
    )
    await _runner(ctx).run(removal)


async def _read_artifact(ctx: GradeContext, path: str) -> str | None:
    content = await _runner(ctx).read_file(path)
    return None if content is None else content.decode("utf-8", errors="replace")


def _runner(ctx: GradeContext) -> ProgramRunner:
    if ctx.runner is None:
        raise GradingError("this test runs the program, but no sandbox was provided")
    return ctx.runner


# The instructor's pattern meets text the student's program wrote: bound its time, so a
# pattern that backtracks badly on hostile output cannot stall the grading service.
PATTERN_TIMEOUT_S = 1.0


def _pattern_found(pattern: str, text: str) -> bool:
    try:
        return regex.search(pattern, text, timeout=PATTERN_TIMEOUT_S) is not None
    except TimeoutError as error:
        limit = f"{PATTERN_TIMEOUT_S:g} s"
        raise GradingError(f"the expected_content pattern took longer than {limit}") from error


def _compare_artifact(
    ctx: GradeContext, params: ExpectFileArtifactParams, result: RunResult, content: str
) -> TestOutcome:
    if params.match == "exact":
        return _compare_artifact_exactly(ctx, params, result, content)
    if params.match == "contains":
        passed = params.expected_content in content
        key = "input_output.artifact_contains" if passed else "input_output.artifact_lacks_text"
    else:
        passed = _pattern_found(params.expected_content, content)
        key = (
            "input_output.artifact_matches_pattern"
            if passed
            else "input_output.artifact_no_pattern_match"
        )
    message = say(ctx, key, path=params.artifact_path)
    return _artifact_outcome(ctx, params, result, content, message, passed)


def _compare_artifact_exactly(
    ctx: GradeContext, params: ExpectFileArtifactParams, result: RunResult, content: str
) -> TestOutcome:
    expected, path = params.expected_content, params.artifact_path
    diff_line = first_difference(expected, content, params.normalize)
    if diff_line is None:
        message = say(ctx, "input_output.artifact_as_expected", path=path)
        return _artifact_outcome(ctx, params, result, content, message, passed=True)
    message = say(ctx, "input_output.artifact_differs", path=path, line=diff_line)
    if params.normalize != "whitespace":
        ended = "input_output.file_ended"
        message += "\n" + _line_pair(ctx, expected, content, diff_line, ended)
    outcome = _artifact_outcome(ctx, params, result, content, message, passed=False)
    return amended(outcome, first_diff_line=diff_line)


def _artifact_outcome(
    ctx: GradeContext,
    params: ExpectFileArtifactParams,
    result: RunResult,
    content: str,
    message: str,
    passed: bool,
) -> TestOutcome:
    """The run's time and memory, with the file's content as what the program gave."""
    outcome = measured_outcome(
        ctx, result, 100 if passed else 0, "passed" if passed else "failed", message
    )
    expected = None if passed else shown(ctx, params.expected_content)
    return amended(outcome, expected=expected, actual=shown(ctx, content))


EXPECT_OUTPUT = TestFunction(
    name="expect_output",
    description="Runs the program with the given stdin lines and compares what it prints "
    "with the expected output.",
    params_model=ExpectOutputParams,
    run=expect_output,
)
DONT_FAIL = TestFunction(
    name="dont_fail",
    description="Runs the program with the given stdin lines; passes when it exits with "
    "code 0 within the limits.",
    params_model=ProgramParams,
    run=dont_fail,
)
EXPECT_FILE_ARTIFACT = TestFunction(
    name="expect_file_artifact",
    description="Runs the program like expect_output, then checks a file it wrote in its "
    "working directory (removed before the run, so only this run's file counts).",
    params_model=ExpectFileArtifactParams,
    run=expect_file_artifact,
)
INPUT_OUTPUT = Template(
    name="input_output",
    requires_sandbox=True,
    functions={
        function.name: function for function in (EXPECT_OUTPUT, DONT_FAIL, EXPECT_FILE_ARTIFACT)
    },
    description="Runs the student's program on stdin and checks its output and exit.",
)
