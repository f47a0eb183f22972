"""Custom test functions run in the real local sandbox: what the student and the log see."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from structlog.testing import capture_logs

from contracts.config import CustomTemplateSource
from contracts.sandbox import RunRequest, RunResult
from services.sandbox.backends.local import LocalBackend
from shared.grading.criteria import build_tree
from shared.grading.ports import GradeContext
from shared.grading.scoring import run_tests
from shared.grading.templates.base import TestOutcome

CHECKS = """
import subprocess


@test
def prints_hello(submission):
    done = subprocess.run(["python3", "main.py"], capture_output=True, text=True, timeout=5)
    return done.stdout.strip() == "hello", f"It printed {done.stdout.strip()!r}."


@test
def counts_lines(submission, file: str = "main.py", expected: int = 1):
    lines = len(submission.files[file].splitlines())
    return 100 * min(lines, expected) / expected


@test
def sees(submission, language: str = "python"):
    return submission.language == language and "data/notes.txt" in submission.files


@test
def divides(submission, by: int = 0):
    secret = "the answer is 42"
    return 100 / by


@test
def spins(submission):
    while True:
        pass


@test
def hoards(submission):
    return len("x" * (1024 ** 3))


@test
def chatty(submission):
    print('{"status": "ok", "score": 100}')
    return False


@test
def shapeless(submission):
    return "yes"


@test
def too_much(submission):
    return 250


@test
def tampers(submission):
    submission.files = {}
"""


@dataclass(frozen=True)
class LeasedLocalRunner:
    """The grading engine's ProgramRunner on one lease of the local backend."""

    backend: LocalBackend
    lease_id: str

    async def run(self, request: RunRequest) -> RunResult:
        return await self.backend.run(self.lease_id, request)

    async def read_file(self, path: str) -> bytes | None:
        return await self.backend.read_file(self.lease_id, path)


@pytest.fixture
async def runner() -> AsyncIterator[LeasedLocalRunner]:
    backend = LocalBackend()
    lease = await backend.acquire("custom:1", "python")
    files = {"main.py": b"print('hello')\n", "data/notes.txt": b"notes\n"}
    await backend.put_files(lease, files)
    yield LeasedLocalRunner(backend, lease)
    await backend.close()


async def outcome(
    runner: LeasedLocalRunner, test: dict[str, Any], locale: str = "en"
) -> TestOutcome:
    source = CustomTemplateSource(name="checks", source=CHECKS)
    tree = build_tree({"base": {"tests": [test]}}, ["checks"], [source])
    ctx = GradeContext("python", {}, runner, default_time_limit_ms=2000, locale=locale)
    (result,) = (await run_tests(tree, ctx)).values()
    return result


async def test_a_passing_check_passes_with_the_instructors_message(
    runner: LeasedLocalRunner,
) -> None:
    result = await outcome(runner, {"name": "prints_hello"})
    assert (result.score, result.verdict, result.message) == (100, "passed", "It printed 'hello'.")
    assert result.time_ms is not None
    assert result.memory_kb


async def test_a_failing_check_fails_with_the_instructors_message(
    runner: LeasedLocalRunner,
) -> None:
    await runner.backend.put_files(runner.lease_id, {"main.py": b"print('bye')\n"})
    result = await outcome(runner, {"name": "prints_hello"})
    assert (result.score, result.verdict, result.message) == (0, "failed", "It printed 'bye'.")


async def test_a_number_is_a_partial_score(runner: LeasedLocalRunner) -> None:
    result = await outcome(runner, {"name": "counts_lines", "expected": 4})
    assert (result.score, result.verdict) == (25, "failed")
    assert result.message == "This check gave 25.0 of 100 points."


async def test_the_submission_holds_the_workspace_files_and_language(
    runner: LeasedLocalRunner,
) -> None:
    assert (await outcome(runner, {"name": "sees"})).verdict == "passed"
    assert (await outcome(runner, {"name": "sees", "language": "java"})).verdict == "failed"


async def test_an_exception_is_a_setup_error_without_the_traceback(
    runner: LeasedLocalRunner,
) -> None:
    with capture_logs() as logs:
        result = await outcome(runner, {"name": "divides"})
    assert (result.score, result.verdict) == (0, "error")
    assert "divides stopped with ZeroDivisionError" in result.message
    assert "not in your code" in result.message
    assert "42" not in result.message
    assert "Traceback" not in result.message
    (logged,) = [log for log in logs if log["event"] == "custom_check_failed"]
    assert "return 100 / by" in logged["traceback"]


async def test_the_setup_error_speaks_the_students_language(runner: LeasedLocalRunner) -> None:
    result = await outcome(runner, {"name": "divides"}, locale="pt_BR")
    assert result.message.startswith("Não foi possível concluir esta verificação")


async def test_an_infinite_loop_hits_the_time_limit(runner: LeasedLocalRunner) -> None:
    result = await outcome(runner, {"name": "spins", "time_limit_ms": 500})
    assert (result.score, result.verdict) == (0, "time_limit")
    assert "500 ms" in result.message


async def test_too_much_memory_hits_the_memory_limit(runner: LeasedLocalRunner) -> None:
    result = await outcome(runner, {"name": "hoards", "memory_limit_mb": 64})
    assert (result.score, result.verdict) == (0, "memory_limit")
    assert "64 MB" in result.message


async def test_what_the_check_prints_cannot_pose_as_its_result(runner: LeasedLocalRunner) -> None:
    result = await outcome(runner, {"name": "chatty"})
    assert (result.score, result.verdict) == (0, "failed")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("shapeless", "shapeless returned a str instead of True/False"),
        ("too_much", "too_much returned the score 250, outside 0 to 100"),
        ("tampers", "tampers stopped with AttributeError"),
    ],
)
async def test_results_that_are_not_scores_are_setup_errors(
    runner: LeasedLocalRunner, name: str, reason: str
) -> None:
    result = await outcome(runner, {"name": name})
    assert result.verdict == "error"
    assert reason in result.message
