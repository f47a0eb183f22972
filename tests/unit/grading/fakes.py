"""Test doubles and config builders shared by the grading engine's unit tests."""

from typing import Any

from contracts.sandbox import RunRequest, RunResult, Verdict
from shared.grading.ports import GradeContext
from shared.grading.templates.base import TestOutcome


class FakeRunner:
    """A ProgramRunner that records each request and answers with canned results.

    `files` are the workspace files as the fake program left them (what read_file sees).
    """

    def __init__(
        self, *results: RunResult | Exception, files: dict[str, str | bytes] | None = None
    ) -> None:
        self._results = list(results)
        self.requests: list[RunRequest] = []
        self.files = dict(files or {})
        self.reads: list[str] = []

    async def run(self, request: RunRequest) -> RunResult:
        self.requests.append(request)
        result = self._results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    async def read_file(self, path: str) -> bytes | None:
        self.reads.append(path)
        content = self.files.get(path)
        return content.encode() if isinstance(content, str) else content


def ran(
    stdout: str = "",
    exit_code: int | None = 0,
    verdict: Verdict = Verdict.OK,
    stderr: str = "",
    signal: int | None = None,
) -> RunResult:
    return RunResult(
        exit_code=exit_code,
        signal=signal,
        stdout=stdout,
        stderr=stderr,
        verdict=verdict,
        cpu_ms=12,
        peak_memory_kb=3400,
    )


def context(
    runner: FakeRunner | None, language: str = "python", locale: str = "en", **limits: int
) -> GradeContext:
    return GradeContext(language=language, files={}, runner=runner, locale=locale, **limits)


def check(name: str, weight: float | None = None) -> dict[str, Any]:
    """A test entry whose outcome the scoring tests supply by hand."""
    entry: dict[str, Any] = {"name": name, "type": "dont_fail"}
    if weight is not None:
        entry["weight"] = weight
    return entry


def scored(score: float) -> TestOutcome:
    return TestOutcome(score=score, verdict="passed" if score == 100 else "failed", message="")
