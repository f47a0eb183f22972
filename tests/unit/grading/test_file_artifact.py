"""expect_file_artifact: run the program, then check a file it wrote in its working directory.

Most tests use a fake sandbox whose program "wrote" the given files; the last one grades a
real Python program in the local sandbox, in-process.
"""

from typing import Any

import pytest

from contracts.config import GradingConfigIn
from contracts.sandbox import RunResult, Verdict
from services.inprocess import grade_files
from services.sandbox.backends.local import LocalBackend
from shared.grading.criteria import build_tree
from shared.grading.errors import GradingError, InvalidCriteria
from shared.grading.templates import TestOutcome, get_template
from tests.unit.grading.fakes import FakeRunner, context, ran

FUNCTION = get_template("input_output").functions["expect_file_artifact"]


async def artifact(
    files: dict[str, str | bytes],
    result: RunResult | None = None,
    locale: str = "en",
    **params: Any,
) -> tuple[TestOutcome, FakeRunner]:
    # With delete_before_run the file is removed first, in a run of its own.
    removal = [ran()] if params.get("delete_before_run") else []
    runner = FakeRunner(*removal, result or ran(), files=files)
    validated = FUNCTION.params_model.model_validate(
        {"artifact_path": "out.txt", "expected_content": "total: 5", **params}
    )
    outcome = await FUNCTION.run(context(runner, locale=locale), validated)
    return outcome, runner


async def test_the_expected_file_passes_with_the_run_time_and_memory() -> None:
    outcome, runner = await artifact({"out.txt": "total: 5\n"}, inputs=[2, 3])
    assert (outcome.score, outcome.verdict) == (100, "passed")
    assert (outcome.time_ms, outcome.memory_kb) == (12, 3400)
    assert outcome.actual == "total: 5\n"
    assert outcome.message == "Your program wrote the expected content to out.txt."
    assert runner.reads == ["out.txt"]


async def test_the_file_is_removed_before_the_program_runs_with_the_test_parameters() -> None:
    _, runner = await artifact(
        {"out/result.txt": "total: 5"},
        delete_before_run=True,
        artifact_path="out/result.txt",
        inputs=[2, 3],
        program_command="python3 sum.py",
        time_limit_ms=700,
        memory_limit_mb=64,
    )
    removal, program = runner.requests
    assert removal.argv == ["rm", "-f", "--", "out/result.txt"]
    assert (program.shell, program.stdin) == ("python3 sum.py", "2\n3\n")
    assert (program.cpu_time_limit_ms, program.memory_limit_mb) == (700, 64)


async def test_a_missing_file_fails_naming_it() -> None:
    outcome, _ = await artifact({"other.txt": "total: 5"}, ran(stdout="total: 5\n"))
    assert (outcome.score, outcome.verdict) == (0, "failed")
    assert "did not create the file out.txt" in outcome.message
    assert (outcome.expected, outcome.actual) == ("total: 5", None)


async def test_a_different_file_fails_at_the_first_differing_line() -> None:
    outcome, _ = await artifact(
        {"out.txt": "a\nB\nc\n"}, expected_content="a\nb\nc", normalize="none"
    )
    assert (outcome.score, outcome.verdict, outcome.first_diff_line) == (0, "failed", 2)
    assert (outcome.expected, outcome.actual) == ("a\nb\nc", "a\nB\nc\n")
    assert outcome.message == (
        "The file out.txt your program wrote differs from the expected content at line 2.\n"
        "Expected: 'b'\nGot:      'B'"
    )


async def test_a_file_that_ends_early_says_so() -> None:
    outcome, _ = await artifact({"out.txt": "a\n"}, expected_content="a\nb")
    assert outcome.first_diff_line == 2
    assert "Got:      (nothing: the file ends before this line)" in outcome.message


@pytest.mark.parametrize(
    ("normalize", "expected", "content", "verdict"),
    [
        ("trailing_whitespace", "1\n2", "1  \n2\n\n", "passed"),
        ("none", "1\n2", "1\n2\n", "failed"),
        ("whitespace", "1 2 3", "1\n2   3", "passed"),
        ("case_insensitive", "Total: 5", "TOTAL: 5\n", "passed"),
    ],
)
async def test_exact_uses_the_normalize_modes_of_expect_output(
    normalize: str, expected: str, content: str, verdict: str
) -> None:
    params = {"expected_content": expected, "normalize": normalize}
    outcome, _ = await artifact({"out.txt": content}, **params)
    assert outcome.verdict == verdict


@pytest.mark.parametrize(
    ("match", "expected", "verdict", "message"),
    [
        ("contains", "total: 5", "passed", "out.txt your program wrote contains the expected"),
        ("contains", "total: 6", "failed", "out.txt your program wrote does not contain"),
        ("regex", r"total: \d+$", "passed", "out.txt your program wrote matches the expected"),
        ("regex", r"^total: \d+$", "failed", "out.txt your program wrote does not match"),
    ],
)
async def test_contains_and_regex(match: str, expected: str, verdict: str, message: str) -> None:
    params = {"match": match, "expected_content": expected}
    outcome, _ = await artifact({"out.txt": "sum of 2 and 3\ntotal: 5"}, **params)
    assert outcome.verdict == verdict
    assert message in outcome.message
    assert outcome.first_diff_line is None
    assert outcome.expected == (None if verdict == "passed" else expected)


async def test_a_crash_is_a_runtime_error_and_the_file_is_not_read() -> None:
    crashed = ran(exit_code=1, verdict=Verdict.RUNTIME_ERROR, stderr="ValueError: boom\n")
    outcome, runner = await artifact({"out.txt": "total: 5"}, crashed)
    assert (outcome.score, outcome.verdict) == (0, "runtime_error")
    assert "ValueError: boom" in outcome.message
    assert outcome.expected == "total: 5"
    assert runner.reads == []


async def test_the_expected_exit_code_is_honoured() -> None:
    exits_2 = ran(exit_code=2, verdict=Verdict.RUNTIME_ERROR)
    outcome, _ = await artifact({"out.txt": "total: 5"}, exits_2, expected_exit_code=2)
    assert outcome.verdict == "passed"


async def test_a_limit_hit_is_its_own_verdict() -> None:
    timed_out = ran(exit_code=None, signal=9, verdict=Verdict.TIME_LIMIT)
    outcome, _ = await artifact({"out.txt": "total: 5"}, timed_out, time_limit_ms=300)
    assert (outcome.verdict, outcome.score) == ("time_limit", 0)
    assert "time limit of 300 ms" in outcome.message


async def test_a_long_file_is_shortened_for_display() -> None:
    outcome, _ = await artifact({"out.txt": "x" * 5000})
    assert outcome.actual is not None
    assert "3000 more characters" in outcome.actual


async def test_a_file_that_is_not_utf8_is_read_with_replacement_characters() -> None:
    outcome, _ = await artifact({"out.txt": b"total: 5 \xff"}, match="contains")
    assert outcome.verdict == "passed"
    assert outcome.actual == "total: 5 \ufffd"


async def test_the_path_is_normalised() -> None:
    _, runner = await artifact({"out/a.txt": "total: 5"}, artifact_path="./out//a.txt")
    assert runner.reads == ["out/a.txt"]


async def test_a_missing_file_is_explained_in_portuguese() -> None:
    outcome, _ = await artifact({}, locale="pt_BR")
    assert outcome.message == (
        "Seu programa não criou o arquivo out.txt: este teste espera que ele grave esse "
        "arquivo na pasta em que é executado."
    )


async def test_without_a_sandbox_it_is_a_grading_error() -> None:
    validated = FUNCTION.params_model.model_validate(
        {"artifact_path": "out.txt", "expected_content": ""}
    )
    with pytest.raises(GradingError, match="no sandbox"):
        await FUNCTION.run(context(None), validated)


def problems_of(**params: Any) -> list[str]:
    test = {"name": "expect_file_artifact", "expected_content": "x", **params}
    with pytest.raises(InvalidCriteria) as caught:
        build_tree({"base": {"tests": [test]}}, ["input_output"])
    return [problem["msg"] for problem in caught.value.errors]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/tmp/out.txt", "relative"),
        ("../out.txt", "without '..'"),
        ("out/../../x", "without '..'"),
        ("", "non-empty"),
        ("out/", "not a directory"),
        (".", "not a directory"),
    ],
)
def test_a_path_outside_the_working_directory_is_a_config_error(path: str, reason: str) -> None:
    (problem,) = problems_of(artifact_path=path)
    assert problem.startswith("parameter 'artifact_path': ")
    assert reason in problem


def test_a_bad_regex_is_a_config_error_naming_the_parameter() -> None:
    (problem,) = problems_of(artifact_path="out.txt", match="regex", expected_content="total: (")
    assert problem.startswith("parameter 'expected_content': not a valid regular expression")


def test_normalize_with_contains_or_regex_is_a_config_error() -> None:
    (problem,) = problems_of(artifact_path="out.txt", match="contains", normalize="whitespace")
    assert problem.startswith("parameter 'normalize': applies only to match_mode \"exact\"")


def test_the_artifact_path_and_the_expected_content_are_required() -> None:
    assert sorted(FUNCTION.parameters_schema()["required"]) == [
        "artifact_path",
        "expected_content",
    ]


# --- a real program in the local sandbox ------------------------------------------------

WRITER = b"""import sys

numbers = [int(line) for line in sys.stdin]
with open("out.txt", "w") as out:
    out.write(f"sum of {len(numbers)} numbers\\n")
    out.write(f"total: {sum(numbers)}\\n")
"""


async def test_a_python_program_writing_a_file_is_graded_in_the_local_sandbox() -> None:
    tests = [
        {"name": "exact", "type": "expect_file_artifact", "inputs": [2, 3],
         "artifact_path": "out.txt", "expected_content": "sum of 2 numbers\ntotal: 5"},
        {"name": "regex", "type": "expect_file_artifact", "inputs": [4],
         "artifact_path": "out.txt", "match": "regex", "expected_content": r"total: 4$"},
        {"name": "wrong", "type": "expect_file_artifact", "inputs": [1],
         "artifact_path": "out.txt", "match": "contains", "expected_content": "total: 2"},
        # The submission brings report.txt along; the program never writes it. As in the
        # reference it counts, unless delete_before_run removes it first.
        {"name": "shipped", "type": "expect_file_artifact", "inputs": [5],
         "artifact_path": "report.txt", "expected_content": "total: 5"},
        {"name": "stale", "type": "expect_file_artifact", "inputs": [5],
         "artifact_path": "report.txt", "expected_content": "total: 5",
         "delete_before_run": True},
    ]  # fmt: skip
    config = GradingConfigIn(
        external_assignment_id="artifact",
        criteria_config={"base": {"tests": tests}},
        include_feedback=False,
    )
    files = {"main.py": WRITER, "report.txt": b"total: 5\n"}
    backend = LocalBackend()
    try:
        response = await grade_files(files, config, "python", backend)
    finally:
        await backend.close()
    assert response["status"] == "completed", response["pipeline_execution"]
    graded = response["result_tree"]["children"]["base"]["tests"]
    verdicts = {test["name"]: test["verdict"] for test in graded}
    assert verdicts == {
        "exact": "passed", "regex": "passed", "wrong": "failed", "shipped": "passed",
        "stale": "failed",
    }  # fmt: skip
    assert response["final_score"] == 60


async def test_a_pattern_that_backtracks_forever_is_stopped_and_blamed_on_the_setup() -> None:
    from shared.grading.errors import GradingError
    from shared.grading.templates.input_output import _pattern_found

    hostile_output = "a" * 60 + "!"
    with pytest.raises(GradingError, match="took longer than"):
        _pattern_found(r"^(a|aa)+$", hostile_output)
