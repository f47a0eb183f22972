"""The shapes every template shares: a template, its test functions and their outcome."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from contracts.handover import PrecomputedOutcome
from contracts.results import TestVerdict
from shared.grading.ports import GradeContext

Params = TypeVar("Params", bound=BaseModel)


@dataclass(frozen=True)
class TestOutcome:
    """What one test function found. `message` is for the student, in the submission's
    language (GradeContext.locale; texts in shared/grading/locales)."""

    __test__: ClassVar[bool] = False  # not a pytest test class despite the name

    score: float
    verdict: TestVerdict
    message: str
    time_ms: int | None = None
    memory_kb: int | None = None
    expected: str | None = None
    actual: str | None = None
    first_diff_line: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.score <= 100:
            raise ValueError(f"a test score must be within 0..100, got {self.score}")

    def to_contract(self) -> PrecomputedOutcome:
        """For carrying an outcome computed in an earlier step (STRUCTURAL_ANALYSIS,
        AI_BATCH) to GRADE inside the step message."""
        return PrecomputedOutcome(**self.__dict__)

    @classmethod
    def from_contract(cls, outcome: PrecomputedOutcome) -> "TestOutcome":
        return cls(**outcome.model_dump())


@dataclass(frozen=True)
class TestFunction(Generic[Params]):
    """A named check. `params_model` validates its parameters and documents them as JSON
    schema; `run` grades one submission with parameters already validated."""

    __test__: ClassVar[bool] = False  # not a pytest test class despite the name

    name: str
    description: str
    params_model: type[Params]
    run: Callable[[GradeContext, Params], Awaitable[TestOutcome]]

    def parameters_schema(self) -> dict[str, Any]:
        return self.params_model.model_json_schema()


@dataclass(frozen=True)
class Template:
    """A family of test functions; `requires_sandbox` says whether they run the program."""

    name: str
    requires_sandbox: bool
    functions: dict[str, TestFunction[Any]]
    description: str = ""
