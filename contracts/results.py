"""The result tree, focus ranking and the public pipeline_execution shape."""

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from contracts.base import Contract
from contracts.sandbox import RunResult
from contracts.steps import PipelineStatus, StepName, StepStatus

TestVerdict = Literal[
    "passed", "failed", "time_limit", "memory_limit", "output_limit", "runtime_error", "error"
]


class Measured(Contract):
    """What the sandbox measured of a test's run: why it got its verdict."""

    cpu_ms: int
    wall_ms: int
    peak_memory_kb: int
    exit_code: int | None  # None when a signal ended it
    signal: int | None

    @classmethod
    def of(cls, run: RunResult) -> "Measured":
        return cls(
            cpu_ms=run.cpu_ms,
            wall_ms=run.wall_ms,
            peak_memory_kb=run.peak_memory_kb,
            exit_code=run.exit_code,
            signal=run.signal,
        )


class TestResult(Contract):
    """One graded test. `score` is 0..100; `path` is unique in the tree (score_vector key)."""

    kind: Literal["test"] = "test"
    name: str
    type: str
    path: str
    weight: float
    score: float
    verdict: TestVerdict
    message: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    time_ms: int | None = None
    memory_kb: int | None = None
    expected: str | None = None
    actual: str | None = None
    first_diff_line: int | None = None
    measured: Measured | None = None  # tests that ran the program


class NodeResult(Contract):
    """A category (base, bonus, penalty) or a subject: the weighted mean of its children."""

    kind: Literal["category", "subject"]
    name: str
    path: str
    weight: float
    score: float
    subjects_weight: float | None = None
    subjects: list["NodeResult"] = Field(default_factory=list)
    tests: list[TestResult] = Field(default_factory=list)

    def all_tests(self) -> Iterator[TestResult]:
        """Every test below this node, depth-first, subjects before tests."""
        for subject in self.subjects:
            yield from subject.all_tests()
        yield from self.tests


class ResultTree(Contract):
    final_score: float
    children: dict[str, NodeResult]

    def tests_by_category(self) -> Iterator[tuple[str, TestResult]]:
        for category, node in self.children.items():
            for test in node.all_tests():
                yield category, test


class FocusItem(Contract):
    """A test ranked by the points it cost in the final score."""

    path: str
    name: str
    category: str
    score: float
    verdict: TestVerdict
    points_lost: float


class StepRecord(Contract):
    """One entry of pipeline_execution.steps (reference/pipeline-execution-tracking.txt)."""

    name: StepName
    status: StepStatus
    message: str
    # The reference shows error_details only on the steps that have it.
    error_details: dict[str, Any] | None = Field(default=None, exclude_if=lambda v: v is None)


class PipelineExecution(Contract):
    status: PipelineStatus
    failed_at_step: StepName | None
    total_steps_planned: int
    steps_completed: int
    execution_time_ms: int
    steps: list[StepRecord]
