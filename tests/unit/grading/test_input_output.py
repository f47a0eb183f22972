"""expect_output and dont_fail against a fake sandbox returning canned run results."""

from typing import Any

import pytest

from contracts.sandbox import RunResult, Verdict
from shared.grading.criteria import build_tree
from shared.grading.errors import GradingError, InvalidCriteria, UnknownTemplate
from shared.grading.templates import TestOutcome, get_template
from tests.unit.grading.fakes import FakeRunner, context, ran


async def run(
    function: str, params: dict[str, Any], result: RunResult, language: str = "python"
) -> tuple[TestOutcome, FakeRunner]:
    test_function = get_template("input_output").functions[function]
    runner = FakeRunner(result)
    validated = test_function.params_model.model_validate(params)
    outcome = await test_function.run(context(runner, language), validated)
    return outcome, runner


async def expect(result: RunResult, **params: Any) -> TestOutcome:
    outcome, _ = await run("expect_output", {"expected_output": "3", **params}, result)
    return outcome


async def test_matching_output_passes_and_reports_time_and_memory() -> None:
    outcome = await expect(ran(stdout="3\n"), inputs=["1", "2"])
    assert (outcome.score, outcome.verdict) == (100, "passed")
    assert (outcome.time_ms, outcome.memory_kb) == (12, 3400)


async def test_the_request_carries_stdin_command_and_default_limits() -> None:
    _, runner = await run("expect_output", {"inputs": [1, "2"], "expected_output": "3"}, ran())
    (request,) = runner.requests
    assert request.shell == "python3 main.py"
    assert request.stdin == "1\n2\n"
    assert (request.cpu_time_limit_ms, request.wall_time_limit_ms) == (5000, 15000)
    assert (request.memory_limit_mb, request.output_limit_bytes) == (256, 65536)


@pytest.mark.parametrize(("time_limit", "wall_limit"), [(200, 1200), (2000, 6000)])
async def test_wall_time_is_three_times_the_cpu_limit_and_at_least_one_second_more(
    time_limit: int, wall_limit: int
) -> None:
    params = {"expected_output": "", "time_limit_ms": time_limit, "memory_limit_mb": 64}
    _, runner = await run("expect_output", params, ran())
    (request,) = runner.requests
    assert (request.cpu_time_limit_ms, request.wall_time_limit_ms) == (time_limit, wall_limit)
    assert request.memory_limit_mb == 64


async def test_limits_default_to_the_context() -> None:
    test_function = get_template("input_output").functions["dont_fail"]
    runner = FakeRunner(ran())
    ctx = context(
        runner, default_time_limit_ms=1000, default_memory_limit_mb=128, output_limit_bytes=10
    )
    await test_function.run(ctx, test_function.params_model())
    (request,) = runner.requests
    assert request.stdin == "\n"  # the reference's `echo` of no input: one empty line
    assert (request.cpu_time_limit_ms, request.memory_limit_mb) == (1000, 128)
    assert request.output_limit_bytes == 10


async def test_wrong_output_fails_at_the_first_differing_line() -> None:
    outcome = await expect(ran(stdout="1\n5\n3\n"), expected_output="1\n2\n3")
    assert (outcome.score, outcome.verdict, outcome.first_diff_line) == (0, "failed", 2)
    assert (outcome.expected, outcome.actual) == ("1\n2\n3", "1\n5\n3\n")
    assert "line 2" in outcome.message
    assert "'2'" in outcome.message
    assert "'5'" in outcome.message


async def test_output_that_stops_early_says_so() -> None:
    outcome = await expect(ran(stdout="1\n"), expected_output="1\n2")
    assert outcome.first_diff_line == 2
    assert "output ends before this line" in outcome.message


async def test_long_output_is_shortened_for_display() -> None:
    outcome = await expect(ran(stdout="x" * 5000))
    assert outcome.actual is not None
    assert outcome.actual.startswith("x" * 2000)
    assert "3000 more characters" in outcome.actual
    assert len(outcome.actual) < 2100


async def test_a_crash_is_a_runtime_error_even_when_the_output_matches() -> None:
    stderr = "Traceback (most recent call last):\nZeroDivisionError: division by zero\n"
    result = ran(stdout="3\n", exit_code=1, verdict=Verdict.RUNTIME_ERROR, stderr=stderr)
    outcome = await expect(result)
    assert (outcome.score, outcome.verdict) == (0, "runtime_error")
    assert "code 1" in outcome.message
    assert "ZeroDivisionError: division by zero" in outcome.message


async def test_only_the_tail_of_a_long_stderr_is_shown() -> None:
    stderr = "".join(f"frame {number}\n" for number in range(100))
    outcome = await expect(ran(exit_code=1, verdict=Verdict.RUNTIME_ERROR, stderr=stderr))
    assert "frame 99" in outcome.message
    assert "frame 10\n" not in outcome.message


async def test_a_signal_is_a_runtime_error_naming_the_signal() -> None:
    result = ran(stdout="3\n", exit_code=None, signal=11, verdict=Verdict.RUNTIME_ERROR)
    outcome = await expect(result)
    assert outcome.verdict == "runtime_error"
    assert "SIGSEGV" in outcome.message


async def test_the_expected_exit_code_is_honoured() -> None:
    exits_2 = ran(stdout="3\n", exit_code=2, verdict=Verdict.RUNTIME_ERROR)
    assert (await expect(exits_2, expected_exit_code=2)).verdict == "passed"
    outcome = await expect(ran(stdout="3\n"), expected_exit_code=2)
    assert outcome.verdict == "runtime_error"
    assert "expects exit code 2" in outcome.message


@pytest.mark.parametrize(
    ("verdict", "words"),
    [
        (Verdict.TIME_LIMIT, "time limit of 5000 ms"),
        (Verdict.MEMORY_LIMIT, "memory limit of 256 MB"),
        (Verdict.OUTPUT_LIMIT, "output limit of 65536 bytes"),
    ],
)
async def test_a_limit_hit_scores_zero_and_explains_the_limit(verdict: Verdict, words: str) -> None:
    # A program stopped by a limit may have printed the right answer already.
    outcome = await expect(ran(stdout="3\n", exit_code=None, signal=9, verdict=verdict))
    assert (outcome.score, outcome.verdict) == (0, verdict.value)
    assert words in outcome.message


@pytest.mark.parametrize(
    "stderr",
    [
        "Traceback (most recent call last):\nMemoryError\n",
        'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space\n',
        "terminate called after throwing an instance of 'std::bad_alloc'\n",
    ],
)
async def test_running_out_of_memory_is_recognised_from_stderr(stderr: str) -> None:
    outcome = await expect(ran(exit_code=1, verdict=Verdict.RUNTIME_ERROR, stderr=stderr))
    assert (outcome.score, outcome.verdict) == (0, "memory_limit")


@pytest.mark.parametrize(
    ("language", "command"),
    [
        ("python", "python3 main.py"),
        ("java", "java Main"),
        ("node", "node index.js"),
        ("c", "./a.out"),
        ("cpp", "./a.out"),
    ],
)
async def test_cmd_is_the_language_default_command(language: str, command: str) -> None:
    params = {"expected_output": "3", "program_command": "CMD"}
    _, runner = await run("expect_output", params, ran(stdout="3"), language)
    assert runner.requests[0].shell == command


@pytest.mark.parametrize(
    ("language", "command"),
    [("python", "python3 solve.py"), ("java", "java Solve"), ("node", "node index.js")],
)
async def test_a_command_map_picks_the_submission_language(language: str, command: str) -> None:
    commands = {"python": "python3 solve.py", "java": "java Solve", "node": "CMD"}
    params = {"expected_output": "3", "program_command": commands}
    _, runner = await run("expect_output", params, ran(stdout="3"), language)
    assert runner.requests[0].shell == command


async def test_a_plain_command_is_used_as_given() -> None:
    params = {"expected_output": "3", "program_command": "python3 -m calc --fast"}
    _, runner = await run("expect_output", params, ran(stdout="3"))
    assert runner.requests[0].shell == "python3 -m calc --fast"


async def test_a_language_without_a_command_raises_a_grading_error() -> None:
    params = {"expected_output": "3", "program_command": {"java": "java Solve"}}
    with pytest.raises(GradingError, match="no entry for 'python'"):
        await run("expect_output", params, ran())


@pytest.mark.parametrize(
    ("normalize", "expected", "stdout", "verdict"),
    [
        ("trailing_whitespace", "1\n2", "1   \n2\t\n\n\n", "passed"),
        ("trailing_whitespace", "1 2", "1  2", "failed"),
        ("trailing_whitespace", "yes", "YES", "failed"),
        ("none", "1\n2", "1\n2\n", "failed"),
        ("none", "1\n2\n", "1\n2\n", "passed"),
        ("whitespace", "1 2\n3", "1\n2    3\n", "passed"),
        ("whitespace", "1 2 3", "1 2", "failed"),
        ("case_insensitive", "Yes\nNO", "yes  \nno", "passed"),
        ("case_insensitive", "yes", "no", "failed"),
    ],
)
async def test_normalize_modes(normalize: str, expected: str, stdout: str, verdict: str) -> None:
    outcome = await expect(ran(stdout=stdout), expected_output=expected, normalize=normalize)
    assert outcome.verdict == verdict


@pytest.mark.parametrize(
    ("expected", "stdout", "line"),
    [("1 2\n3 4", "1 2\n3 5\n", 2), ("1 2 3", "1\n2", 3), ("1", "1\n\n 2", 3)],
)
async def test_whitespace_mode_points_at_the_line_of_the_first_differing_word(
    expected: str, stdout: str, line: int
) -> None:
    outcome = await expect(ran(stdout=stdout), expected_output=expected, normalize="whitespace")
    assert outcome.first_diff_line == line


async def test_dont_fail_passes_on_a_clean_exit() -> None:
    outcome, runner = await run("dont_fail", {"inputs": ["5"]}, ran(stdout="anything"))
    assert (outcome.score, outcome.verdict) == (100, "passed")
    assert runner.requests[0].stdin == "5\n"


@pytest.mark.parametrize(
    ("result", "verdict"),
    [
        (ran(exit_code=3, verdict=Verdict.RUNTIME_ERROR), "runtime_error"),
        (ran(exit_code=None, verdict=Verdict.TIME_LIMIT), "time_limit"),
        (ran(exit_code=1, verdict=Verdict.RUNTIME_ERROR, stderr="MemoryError"), "memory_limit"),
    ],
)
async def test_dont_fail_fails_on_a_crash_or_a_limit(result: RunResult, verdict: str) -> None:
    outcome, _ = await run("dont_fail", {}, result)
    assert (outcome.score, outcome.verdict) == (0, verdict)


def test_an_unknown_template_lists_the_known_ones() -> None:
    with pytest.raises(
        UnknownTemplate, match=r"unknown template 'io'; known templates: .*input_output"
    ):
        get_template("io")


def test_every_function_publishes_a_parameter_schema() -> None:
    functions = get_template("input_output").functions
    schema = functions["expect_output"].parameters_schema()
    assert schema["required"] == ["expected_output"]
    names = {"inputs", "program_command", "normalization", "normalize"}
    assert names <= schema["properties"].keys()
    assert "expected_output" not in functions["dont_fail"].parameters_schema()["properties"]


# --- the reference autograder's rules and parameter names ---------------------------


@pytest.mark.parametrize(
    ("params", "stdout", "score"),
    [
        # Reference: normalization defaults to true: "\r\n" -> "\n", each line rstripped,
        # the whole text stripped: "\n\n  1  \r\n2\t\n\n" -> "1\n2" == "1\n2" -> 100.
        ({}, "\n\n  1  \r\n2\t\n\n", 100),
        ({"normalization": True}, "1\n2\n", 100),
        # normalization false: "1\n2\n" != "1\n2" -> 0.
        ({"normalization": False}, "1\n2\n", 0),
        ({"normalization": False}, "1\n2", 100),
        # Ours, explicit: trailing_whitespace keeps the leading blank line -> 0.
        ({"normalize": "trailing_whitespace"}, "\n1\n2", 0),
    ],
)
async def test_expect_output_scores_as_the_reference(
    params: dict[str, Any], stdout: str, score: int
) -> None:
    outcome = await expect(ran(stdout=stdout), expected_output="1\n2", **params)
    assert outcome.score == score


async def test_the_differing_line_counts_the_blank_lines_normalization_dropped() -> None:
    outcome = await expect(ran(stdout="\n\n1\n5\n"), expected_output="1\n2")
    assert outcome.first_diff_line == 4
    assert outcome.message.endswith("Expected: '2'\nGot:      '5'")


def test_normalization_and_normalize_are_one_choice() -> None:
    test = {"name": "expect_output", "expected_output": "1", "normalization": False}
    with pytest.raises(InvalidCriteria) as caught:
        build_tree({"base": {"tests": [{**test, "normalize": "none"}]}}, ["input_output"])
    (problem,) = caught.value.errors
    assert problem["msg"] == "give either 'normalization' or 'normalize', not both"
    assert problem["loc"][-1] == "parameters"


@pytest.mark.parametrize(
    ("params", "result", "stdin", "score"),
    [
        # Reference: stdin is `echo` of user_input; 100 unless the run times out, fails
        # to compile or exits non-zero (exit code 0 is SUCCESS whatever stderr says).
        ({"user_input": "abc"}, ran(), "abc\n", 100),
        ({"user_input": ""}, ran(), "\n", 100),
        ({}, ran(stderr="MemoryError"), "\n", 100),
        ({"user_input": 7}, ran(exit_code=1, verdict=Verdict.RUNTIME_ERROR), "7\n", 0),
        ({"user_input": "x"}, ran(exit_code=None, verdict=Verdict.TIME_LIMIT), "x\n", 0),
    ],
)
async def test_dont_fail_scores_as_the_reference(
    params: dict[str, Any], result: RunResult, stdin: str, score: int
) -> None:
    outcome, runner = await run("dont_fail", params, result)
    assert outcome.score == score
    assert runner.requests[0].stdin == stdin


def test_user_input_and_inputs_are_one_choice() -> None:
    test = {"name": "dont_fail", "inputs": ["1"], "user_input": "2"}
    with pytest.raises(InvalidCriteria, match="give either 'user_input' or 'inputs'"):
        build_tree({"base": {"tests": [test]}}, ["input_output"])


@pytest.mark.parametrize(
    ("params", "content", "score"),
    [
        # Reference: normalization (default true) applies to the file and to
        # expected_content in every match_mode: "total: 5  \n\n" -> "total: 5", and
        # "total: 5\n" -> "total: 5", which it contains -> 100.
        ({"match_mode": "contains", "expected_content": "total: 5\n"}, "total: 5  \n\n", 100),
        ({"match_mode": "contains", "expected_content": "total: 5\n", "normalization": False},
         "total: 5  \n\n", 0),
        # re.search("^total: 5$", "total: 5") after normalization -> 100; without it the
        # trailing "  " stops "$" -> 0.
        ({"match": "regex", "expected_content": "^total: 5$"}, "total: 5  \n", 100),
        ({"match": "regex", "expected_content": "^total: 5$", "normalization": False},
         "total: 5  \n", 0),
        ({"expected_content": "total: 5"}, "\ntotal: 5\n", 100),
    ],
)  # fmt: skip
async def test_expect_file_artifact_scores_as_the_reference(
    params: dict[str, Any], content: str, score: int
) -> None:
    function = get_template("input_output").functions["expect_file_artifact"]
    runner = FakeRunner(ran(), files={"out.txt": content})
    validated = function.params_model.model_validate({"artifact_path": "out.txt", **params})
    outcome = await function.run(context(runner), validated)
    assert outcome.score == score
    assert len(runner.requests) == 1  # the reference does not delete the file first
