"""What a test function may use from the outside world while grading one submission."""

from dataclasses import dataclass
from typing import Any, Protocol

from contracts.sandbox import RunRequest, RunResult


class ProgramRunner(Protocol):
    """Runs commands in the submission's sandbox workspace (files and setup already there)."""

    async def run(self, request: RunRequest) -> RunResult: ...

    async def read_file(self, path: str) -> bytes | None:
        """The bytes of a workspace file, or None when it does not exist."""
        ...


@dataclass(frozen=True)
class GradeContext:
    """One submission being graded: its language, its source files and its sandbox.

    `runner` is None when no sandbox was leased; templates that need one then fail with
    an "error" verdict instead of blaming the student. `parsed` holds the files' syntax
    trees (a structural.ParsedSubmission) once parsed, so every check shares one parse;
    None means not parsed yet.
    """

    language: str
    files: dict[str, str]
    runner: ProgramRunner | None
    default_time_limit_ms: int = 5000
    default_memory_limit_mb: int = 256
    output_limit_bytes: int = 65536
    parsed: Any = None
    # The language students read messages in (shared/grading/locales).
    locale: str = "en"
