"""The `input_output` template: run the program with given stdin and check how it behaves:
what it prints (expect_output), that it ends cleanly (dont_fail), or a file it writes in
its working directory (expect_file_artifact).

Each function scores as the reference autograder's function of the same name, and takes
its parameter names (`normalization`, `match_mode`, `user_input`) beside ours
(`normalize`, `match`, `inputs`): 100 or 0, the whole output compared after the
reference's normalization (output_compare's "strip") unless a parameter says otherwise.
"""

from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

import regex
from pydantic import (
    AfterValidator,
    AliasChoices,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from contracts.sandbox import RunRequest, RunResult
from shared.grading.errors import GradingError
from shared.grading.messages import say
from shared.grading.ports import GradeContext, ProgramRunner
from shared.grading.templates.base import Template, TestFunction, TestOutcome, amended
from shared.grading.templates.output_compare import (
    Difference,
    NormalizeMode,
    first_difference,
    strip_normalized,
)
from shared.grading.templates.program_run import (
    Limits,
    ProgramParams,
    limits_for,
    measured_outcome,
    run_failure,
    run_program,
    shown,
)

NORMALIZATION_DESCRIPTION = (
    "The reference autograder's switch: true (default) compares the texts after unifying "
    "line endings, removing each line's trailing whitespace and the whole text's leading "
    "and trailing whitespace; false compares them exactly. `normalize` picks another mode."
)
NORMALIZE_DESCRIPTION = (
    '"strip" (as `normalization: true`), "none" (as false), "trailing_whitespace", '
    '"case_insensitive" or "whitespace"; give it instead of `normalization`.'
)


def _one_normalization_switch(data: Any) -> Any:
    """`normalization` (the reference's) and `normalize` (ours) set the same thing."""
    if isinstance(data, dict) and "normalization" in data and "normalize" in data:
        raise ValueError("give either 'normalization' or 'normalize', not both")
    return data


def _compared_as(normalization: bool, normalize: NormalizeMode | None) -> NormalizeMode:
    if normalize is not None:
        return normalize
    return "strip" if normalization else "none"


class ExpectOutputParams(ProgramParams):
    expected_output: str
    expected_exit_code: int | None = None
    normalization: bool = Field(default=True, description=NORMALIZATION_DESCRIPTION)
    normalize: NormalizeMode | None = Field(default=None, description=NORMALIZE_DESCRIPTION)

    _one_switch = model_validator(mode="before")(_one_normalization_switch)

    @property
    def mode(self) -> NormalizeMode:
        return _compared_as(self.normalization, self.normalize)


class DontFailParams(ProgramParams):
    user_input: str | None = Field(
        default=None,
        description="The reference autograder's single stdin line; give it or `inputs`.",
    )

    @field_validator("user_input")
    @classmethod
    def _not_with_inputs(cls, user_input: str | None, info: ValidationInfo) -> str | None:
        if user_input is not None and info.data.get("inputs"):
            raise ValueError("give either 'user_input' or 'inputs', not both")
        return user_input

    @property
    def stdin_lines(self) -> list[str]:
        # The reference sends no line for an empty user_input (stdin is then one "\n").
        return [self.user_input] if self.user_input else self.inputs


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
    # `match_mode` and the normalization switches come before `expected_content`: its
    # validator reads them.
    artifact_path: Annotated[str, AfterValidator(_workspace_path)] = Field(
        description="The file the program writes, relative to its working directory"
    )
    match_mode: ArtifactMatch = Field(
        default="exact",
        validation_alias=AliasChoices("match_mode", "match"),
        description='"exact": the whole file; "contains": the file contains '
        '`expected_content`; "regex": re.search of the pattern `expected_content`. '
        "Also accepted as `match`.",
    )
    normalization: bool = Field(
        default=True,
        description="As in expect_output, in every match_mode: both the file and "
        "`expected_content` (even a pattern) are normalized before they are compared.",
    )
    normalize: NormalizeMode | None = Field(
        default=None, description='As in expect_output; only for match_mode "exact"'
    )
    expected_content: str
    expected_exit_code: int | None = None
    delete_before_run: bool = Field(
        default=False,
        description="Delete the file before the run, so only a file this run writes "
        "counts (not a copy shipped with the submission or left by an earlier test). "
        "The reference autograder checks the file as it is after the run.",
    )

    _one_switch = model_validator(mode="before")(_one_normalization_switch)

    @field_validator("normalize")
    @classmethod
    def _normalize_only_when_exact(
        cls, normalize: NormalizeMode | None, info: ValidationInfo
    ) -> NormalizeMode | None:
        if normalize is not None and info.data.get("match_mode", "exact") != "exact":
            raise ValueError('applies only to match_mode "exact"; a regex can use flags like (?i)')
        return normalize

    @field_validator("expected_content")
    @classmethod
    def _valid_pattern(cls, content: str, info: ValidationInfo) -> str:
        if info.data.get("match_mode") != "regex":
            return content
        # Normalization reaches the pattern too: the normalized one is what is searched.
        normalized = info.data.get("normalization", True)
        try:
            regex.compile(strip_normalized(content) if normalized else content)
        except regex.error as error:
            raise ValueError(f"not a valid regular expression: {error}") from None
        return content

    @property
    def mode(self) -> NormalizeMode:
        return _compared_as(self.normalization, self.normalize)


async def expect_output(ctx: GradeContext, params: ExpectOutputParams) -> TestOutcome:
    limits = limits_for(ctx, params)
    result = await run_program(ctx, params, limits)
    failure = run_failure(ctx, result, limits, params.expected_exit_code)
    if failure is not None:
        return amended(failure, expected=shown(ctx, params.expected_output))
    return _compare_output(ctx, params, result)


async def dont_fail(ctx: GradeContext, params: DontFailParams) -> TestOutcome:
    limits = limits_for(ctx, params)
    result = await run_program(ctx, params, limits, inputs=params.stdin_lines)
    failure = run_failure(ctx, result, limits, expected_exit_code=None)
    if failure is not None:
        return failure
    return measured_outcome(ctx, result, 100, "passed", say(ctx, "input_output.ran_cleanly"))


async def expect_file_artifact(ctx: GradeContext, params: ExpectFileArtifactParams) -> TestOutcome:
    limits = limits_for(ctx, params)
    if params.delete_before_run:
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
    difference = first_difference(params.expected_output, result.stdout, params.mode)
    if difference is None:
        message = say(ctx, "input_output.expected_output_printed")
        return measured_outcome(ctx, result, 100, "passed", message)
    message = say(ctx, "input_output.wrong_output", line=difference.line)
    message += _line_pair(ctx, difference, "input_output.output_ended")
    outcome = measured_outcome(ctx, result, 0, "failed", message)
    expected = shown(ctx, params.expected_output)
    return amended(outcome, expected=expected, first_diff_line=difference.line)


def _line_pair(ctx: GradeContext, difference: Difference, ended: str) -> str:
    """The differing line of each text, on lines of their own after the message."""
    if difference.lines is None:
        return ""
    expected, actual = (
        say(ctx, ended) if text is None else repr(text) for text in difference.lines
    )
    return "\n" + say(ctx, "input_output.expected_and_got", expected=expected, actual=actual)


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
    if params.match_mode == "exact":
        return _compare_artifact_exactly(ctx, params, result, content)
    expected, actual = params.expected_content, content
    if params.normalization:  # the reference normalizes the text and the pattern alike
        expected, actual = strip_normalized(expected), strip_normalized(actual)
    if params.match_mode == "contains":
        passed = expected in actual
        key = "input_output.artifact_contains" if passed else "input_output.artifact_lacks_text"
    else:
        passed = _pattern_found(expected, actual)
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
    path = params.artifact_path
    difference = first_difference(params.expected_content, content, params.mode)
    if difference is None:
        message = say(ctx, "input_output.artifact_as_expected", path=path)
        return _artifact_outcome(ctx, params, result, content, message, passed=True)
    message = say(ctx, "input_output.artifact_differs", path=path, line=difference.line)
    message += _line_pair(ctx, difference, "input_output.file_ended")
    outcome = _artifact_outcome(ctx, params, result, content, message, passed=False)
    return amended(outcome, first_diff_line=difference.line)


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
    params_model=DontFailParams,
    run=dont_fail,
)
EXPECT_FILE_ARTIFACT = TestFunction(
    name="expect_file_artifact",
    description="Runs the program like expect_output, then checks a file in its working "
    "directory (with delete_before_run, only a file this run wrote counts).",
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
