"""Exceptions of the grading engine.

`InvalidCriteria` is an instructor's mistake, found before anything runs: it carries every
problem with its JSON path so an editor can point at each one. A broken test function
never raises out of the engine; `scoring.run_tests` turns it into an "error" verdict.
"""

from typing import TypedDict

from shared.errors import AutograderError


class CriteriaProblem(TypedDict):
    """One problem in a criteria config: where it is (`loc`) and what is wrong (`msg`)."""

    loc: list[str | int]
    msg: str


class GradingError(AutograderError):
    """Root of the grading engine's exceptions."""


class UnknownTemplate(GradingError, LookupError):
    """A template name that the registry does not know."""


class InvalidCriteria(GradingError, ValueError):
    """A criteria config that cannot be graded; `errors` lists every problem found."""

    def __init__(self, errors: list[CriteriaProblem]) -> None:
        self.errors = errors
        lines = [f"{_dotted(error['loc'])}: {error['msg']}" for error in errors]
        super().__init__(f"invalid criteria ({len(errors)} problem(s)):\n" + "\n".join(lines))


def _dotted(loc: list[str | int]) -> str:
    return ".".join(str(part) for part in loc)
