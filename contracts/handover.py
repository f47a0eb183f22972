"""What one step hands over to the steps after it, inside `StepRequest.context`.

Each step that later steps read writes one of these models; `StepContext` holds them
under the step's name (`"SANDBOX"`, `"GRADE"`, ... on the wire, so messages written
before these models existed still parse). Readers tolerate newer writers: unknown fields
are ignored, as in every contract.
"""

from typing import Any, ClassVar

from pydantic import ConfigDict, Field, field_validator

from contracts.base import Contract
from contracts.results import FocusItem, Measured, ResultTree, TestVerdict
from contracts.steps import StepName


class SandboxLease(Contract):
    """SANDBOX: the lease holding the submission's files, for the steps that run code."""

    lease_id: str


class TestOutcome(Contract):
    """What one test function found; handed over when graded before GRADE (by
    STRUCTURAL_ANALYSIS or AI_BATCH). `message` is for the student, in the submission's
    language (GradeContext.locale; texts in shared/grading/locales)."""

    __test__: ClassVar[bool] = False  # not a pytest test class despite the name

    score: float = Field(json_schema_extra={"minimum": 0, "maximum": 100})
    verdict: TestVerdict
    message: str
    time_ms: int | None = None
    memory_kb: int | None = None
    expected: str | None = None
    actual: str | None = None
    first_diff_line: int | None = None
    measured: Measured | None = None

    @field_validator("score")
    @classmethod
    def _within_0_to_100(cls, score: float) -> float:
        # A template's bug, said plainly: the score scale is 0..100 everywhere.
        if not 0 <= score <= 100:
            raise ValueError(f"a test score must be within 0..100, got {score}")
        return score


class PrecomputedOutcomes(Contract):
    """STRUCTURAL_ANALYSIS and AI_BATCH: their tests' outcomes, by test path."""

    outcomes: dict[str, TestOutcome] = Field(default_factory=dict)


class GradeHandOver(Contract):
    """GRADE: the score and the result tree (also GRADE's public output)."""

    final_score: float
    result_tree: ResultTree


class FocusHandOver(Contract):
    """FOCUS: the tests ranked by the points they cost (also FOCUS's public output)."""

    focus: list[FocusItem]


HandOver = SandboxLease | PrecomputedOutcomes | GradeHandOver | FocusHandOver


class MissingHandOver(ValueError):
    """A step needs what an earlier step should have handed over, and it is not there."""


def _absent(step: str) -> Any:
    """A step's slot: named as the step on the wire, and left out until it is filled."""
    return Field(default=None, alias=step, exclude_if=lambda value: value is None)


class StepContext(Contract):
    """The hand-overs so far, one field per step that hands something over."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", serialize_by_alias=True, validate_by_name=True
    )

    sandbox: SandboxLease | None = _absent(StepName.SANDBOX.value)
    ai_batch: PrecomputedOutcomes | None = _absent(StepName.AI_BATCH.value)
    structural_analysis: PrecomputedOutcomes | None = _absent(StepName.STRUCTURAL_ANALYSIS.value)
    grade: GradeHandOver | None = _absent(StepName.GRADE.value)
    focus: FocusHandOver | None = _absent(StepName.FOCUS.value)

    def with_hand_over(self, step: StepName, hand_over: HandOver) -> "StepContext":
        """A copy with `step`'s hand-over added; a model of the wrong kind is refused."""
        return StepContext.model_validate({**self.model_dump(), step.value: hand_over})

    def graded(self) -> GradeHandOver:
        if self.grade is None:
            raise MissingHandOver("GRADE handed nothing over")
        return self.grade

    def ranked(self) -> list[FocusItem]:
        return [] if self.focus is None else self.focus.focus

    def precomputed(self) -> dict[str, TestOutcome]:
        """Outcomes graded before GRADE; STRUCTURAL_ANALYSIS's win over AI_BATCH's."""
        earlier = (self.ai_batch, self.structural_analysis)
        return {path: o for step in earlier if step for path, o in step.outcomes.items()}


class FeedbackOutput(Contract):
    """FEEDBACK's public output: the text the student reads."""

    feedback: str
