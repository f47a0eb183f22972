"""Pipeline step names and statuses. The names are public API (reference/pipeline.txt)."""

from enum import StrEnum


class StepName(StrEnum):
    BOOTSTRAP = "BOOTSTRAP"
    LOAD_TEMPLATE = "LOAD_TEMPLATE"
    BUILD_TREE = "BUILD_TREE"
    SANDBOX = "SANDBOX"
    PRE_FLIGHT = "PRE_FLIGHT"
    AI_BATCH = "AI_BATCH"
    STRUCTURAL_ANALYSIS = "STRUCTURAL_ANALYSIS"
    GRADE = "GRADE"
    FOCUS = "FOCUS"
    FEEDBACK = "FEEDBACK"
    EXPORT = "EXPORT"


class StepStatus(StrEnum):
    SUCCESS = "success"
    FAIL = "fail"


class PipelineStatus(StrEnum):
    """Values of pipeline_execution.status."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    SUPERSEDED = "superseded"  # a newer attempt (a regrade) started before it ended
    CANCELLED = "cancelled"  # course staff stopped it (POST .../cancel)


class SubmissionStatus(StrEnum):
    """Values of a submission's public status."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # an attempt a newer one replaced before it ended
    CANCELLED = "cancelled"  # course staff stopped it before it ended


# The canonical order; a plan is always a subsequence of it.
EXECUTION_ORDER: tuple[StepName, ...] = (
    StepName.LOAD_TEMPLATE,
    StepName.BUILD_TREE,
    StepName.SANDBOX,
    StepName.PRE_FLIGHT,
    StepName.AI_BATCH,
    StepName.STRUCTURAL_ANALYSIS,
    StepName.GRADE,
    StepName.FOCUS,
    StepName.FEEDBACK,
)
# EXPORT keeps its public name but is not a step of the plan: the result is delivered
# after the run ends, completed or failed, and its delivery has a state of its own.
