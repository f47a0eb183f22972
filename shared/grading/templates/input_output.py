"""The `input_output` template: run the program with given stdin and check how it behaves."""

from dataclasses import replace

from contracts.sandbox import RunResult
from shared.grading.messages import say
from shared.grading.ports import GradeContext
from shared.grading.templates.base import Template, TestFunction, TestOutcome
from shared.grading.templates.output_compare import NormalizeMode, first_difference
from shared.grading.templates.program_run import (
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


async def expect_output(ctx: GradeContext, params: ExpectOutputParams) -> TestOutcome:
    limits = limits_for(ctx, params)
    result = await run_program(ctx, params, limits)
    failure = run_failure(ctx, result, limits, params.expected_exit_code)
    if failure is not None:
        return replace(failure, expected=shown(ctx, params.expected_output))
    return _compare_output(ctx, params, result)


async def dont_fail(ctx: GradeContext, params: ProgramParams) -> TestOutcome:
    limits = limits_for(ctx, params)
    result = await run_program(ctx, params, limits)
    failure = run_failure(ctx, result, limits, expected_exit_code=None)
    if failure is not None:
        return failure
    return measured_outcome(ctx, result, 100, "passed", say(ctx, "input_output.ran_cleanly"))


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
    return replace(outcome, expected=expected, first_diff_line=diff_line)


def _line_pair(ctx: GradeContext, expected: str, actual: str, number: int) -> str:
    return say(
        ctx,
        "input_output.expected_and_got",
        expected=_line(ctx, expected, number),
        actual=_line(ctx, actual, number),
    )


def _line(ctx: GradeContext, text: str, number: int) -> str:
    lines = text.splitlines()
    if number > len(lines):
        return say(ctx, "input_output.output_ended")
    return repr(lines[number - 1])


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
INPUT_OUTPUT = Template(
    name="input_output",
    requires_sandbox=True,
    functions={function.name: function for function in (EXPECT_OUTPUT, DONT_FAIL)},
    description="Runs the student's program on stdin and checks its output and exit.",
)
