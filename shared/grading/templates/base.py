"""The shapes every template shares: a template, its test functions and their outcome
(TestOutcome, a contract: outcomes graded before GRADE travel in the step message)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from contracts.handover import TestOutcome
from shared.grading.ports import GradeContext

__all__ = ["Template", "TestFunction", "TestOutcome", "amended"]


def amended(outcome: TestOutcome, **changes: Any) -> TestOutcome:
    """The outcome with some fields changed (what a template adds after the run)."""
    return outcome.model_copy(update=changes)


Params = TypeVar("Params", bound=BaseModel)


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
