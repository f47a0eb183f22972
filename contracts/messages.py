"""The envelope and the payload of every message on the bus.

Every message is an `Envelope`; its `type` names the payload model with a major
version (`step.requested.v1`). `MESSAGE_TYPES` is the registry the JSON Schema and
AsyncAPI generators read.
"""

import builtins
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin
from uuid import UUID, uuid4

from pydantic import Field, TypeAdapter

from contracts.base import Contract
from contracts.config import GradingConfig
from contracts.failures import ErrorDetails
from contracts.handover import StepContext
from contracts.sandbox import Manifest, RunRequest, RunResult, SandboxMetrics
from contracts.steps import StepName, StepStatus, SubmissionStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


class SubmissionInfo(Contract):
    id: int
    attempt: int
    language: str
    username: str = ""
    external_user_id: str = ""
    locale: str = "en"
    manifest: Manifest


class StepRequest(Contract):
    """`step.requested.v1`: run `step` (in the envelope) for this submission.

    `context` carries what earlier steps handed over to later ones (the sandbox lease,
    precomputed outcomes, the result tree, the focus ranking), one typed slot per step.
    """

    plan: list[StepName]
    config: GradingConfig
    submission: SubmissionInfo
    context: StepContext = Field(default_factory=StepContext)


class StepResult(Contract):
    """`step.completed.v1`: the outcome of one step. Failures are data, not exceptions."""

    step: StepName
    status: StepStatus
    message: str
    error_details: ErrorDetails | None = None
    output: dict[str, Any] = Field(default_factory=dict)
    plan: list[StepName]
    started_at: datetime
    finished_at: datetime

    @property
    def duration_ms(self) -> int:
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


class Submitter(Contract):
    """Who and what a submission is for: what a dashboard filters status events by."""

    external_assignment_id: str = ""
    grading_config_id: int = 0
    external_user_id: str = ""


class SubmissionAccepted(Contract):
    """`submission.accepted.v1`: intake stored a new attempt; the tracker opens its record."""

    plan: list[StepName]
    config_id: int
    language: str
    locale: str = "en"
    accepted_at: datetime
    submitter: Submitter = Field(default_factory=Submitter)


class StatusEvent(Submitter):
    """`submission.status.v1` on the status exchange, for dashboards. `step` is the step
    now running (with `running`); the ids let a dashboard filter without calling back."""

    status: SubmissionStatus
    attempt: int = 1
    step: StepName | None = None
    final_score: float | None = None
    failed_at_step: StepName | None = None


class FailureFeedbackRequest(Contract):
    """`feedback.failure_requested.v1`: tracker asks for the student text of a failure."""

    failed: StepResult
    locale: str = "en"
    language: str


class FailureFeedbackRendered(Contract):
    """`feedback.failure_rendered.v1`: the feedback service's answer to the tracker."""

    feedback: str


class ExportPayload(Contract):
    """What an LMS receives for a finished attempt (the webhook's JSON body)."""

    submission_id: int
    attempt: int
    external_assignment_id: str
    grading_config_id: int
    external_user_id: str
    username: str
    status: SubmissionStatus
    final_score: float | None
    feedback: str | None
    result_tree: dict[str, Any] | None
    pipeline_execution: dict[str, Any]


class ExportRequested(Contract):
    """`export.requested.v1`: deliver a finished attempt's result to its webhook.
    `delivery_attempt` counts the tries so far (retries wait in delay queues)."""

    url: str
    payload: ExportPayload
    # A round is one delivery with its automatic retries; a person's retry starts another.
    round: int = 0
    delivery_attempt: int = 0

    @property
    def work_key(self) -> str:
        """What makes each try a unit of work of its own for the inbox."""
        return f"{self.round}.{self.delivery_attempt}"


class SandboxRelease(Contract):
    """`sandbox.release.v1`: destroy every lease of this submission attempt."""

    reason: str = "terminal"


class CancelRequest(Contract):
    """`submission.cancel_requested.v1`: course staff stop this attempt; the tracker
    ends it as `cancelled` and releases its sandbox (a pull runner hears it from its
    next heartbeat)."""

    requested_by: str = ""  # the token's name, for the record


class RunCall(Contract):
    """Run one command on a lease."""

    op: Literal["run"] = "run"
    lease_id: str
    run: RunRequest


class PutFilesCall(Contract):
    """Copy stored files (by manifest) into a lease."""

    op: Literal["put_files"] = "put_files"
    lease_id: str
    manifest: Manifest
    read_only: bool = False


class ReadFileCall(Contract):
    """Read one file of a lease."""

    op: Literal["read_file"] = "read_file"
    lease_id: str
    path: str


class MetricsCall(Contract):
    """The backend's pool metrics."""

    op: Literal["metrics"] = "metrics"


class AcquireCall(Contract):
    """Lease a sandbox for `owner` outside any pipeline (POST /api/v1/execute)."""

    op: Literal["acquire"] = "acquire"
    owner: str = Field(min_length=1, max_length=200)
    language: str


class WriteFilesCall(Contract):
    """Write files given inline into a lease (nothing goes through the blob store)."""

    op: Literal["write_files"] = "write_files"
    lease_id: str
    files: dict[str, str]


class ReleaseCall(Contract):
    """Release every lease of `owner`."""

    op: Literal["release"] = "release"
    owner: str


# `sandbox.call.v1` request/reply: one operation, told apart by `op`.
AnySandboxCall = (
    RunCall | PutFilesCall | ReadFileCall | MetricsCall | AcquireCall | WriteFilesCall | ReleaseCall
)
SandboxCall = Annotated[AnySandboxCall, Field(discriminator="op")]
SANDBOX_CALL: TypeAdapter[AnySandboxCall] = TypeAdapter(SandboxCall)


class SandboxReply(Contract):
    """`sandbox.reply.v1`: the answer to a SandboxCall. `error` set means it failed."""

    run: RunResult | None = None
    content: str | None = None
    metrics: SandboxMetrics | None = None  # the backend's pools (op "metrics")
    lease_id: str | None = None  # the lease made (op "acquire")
    error: str | None = None
    error_type: str | None = None


MessageType = Literal[
    "submission.accepted.v1",
    "step.requested.v1",
    "step.completed.v1",
    "submission.status.v1",
    "feedback.failure_requested.v1",
    "feedback.failure_rendered.v1",
    "sandbox.release.v1",
    "sandbox.call.v1",
    "sandbox.reply.v1",
    "export.requested.v1",
    "submission.cancel_requested.v1",
]


class Envelope(Contract):
    """Every message on the bus: ids for idempotency and tracing, and the typed `data`
    named by `type` (its model is MESSAGE_TYPES[type])."""

    message_id: UUID = Field(default_factory=uuid4)
    type: MessageType
    submission_id: int
    attempt: int
    step: StepName | None = None
    time: datetime = Field(default_factory=utcnow)
    causation_id: UUID | None = None
    # Set when one attempt's step has several units of work (each try of a delivery):
    # the inbox tells them apart by it.
    work_key: str | None = None
    data: dict[str, Any]

    def caused(
        self, payload: Contract, *, step: StepName | None = None, work_key: str | None = None
    ) -> "Envelope":
        """A message this one caused: the same submission attempt, traced back to it."""
        return envelope(
            payload,
            submission_id=self.submission_id,
            attempt=self.attempt,
            step=step,
            causation_id=self.message_id,
            work_key=work_key,
        )

    def payload(self, model: "builtins.type[PayloadT]") -> "PayloadT":
        return model.model_validate(self.data)


PayloadT = TypeVar("PayloadT", bound=Contract)

# The model of each message type; a union for a type with several shapes.
MESSAGE_TYPES: dict[MessageType, Any] = {
    "submission.accepted.v1": SubmissionAccepted,
    "step.requested.v1": StepRequest,
    "step.completed.v1": StepResult,
    "submission.status.v1": StatusEvent,
    "feedback.failure_requested.v1": FailureFeedbackRequest,
    "feedback.failure_rendered.v1": FailureFeedbackRendered,
    "sandbox.release.v1": SandboxRelease,
    "sandbox.call.v1": SandboxCall,
    "sandbox.reply.v1": SandboxReply,
    "export.requested.v1": ExportRequested,
    "submission.cancel_requested.v1": CancelRequest,
}
TYPE_OF: dict[type[Contract], MessageType] = {
    model: name
    for name, shape in MESSAGE_TYPES.items()
    for model in (get_args(get_args(shape)[0]) if get_origin(shape) is Annotated else (shape,))
}


def envelope(
    payload: Contract,
    *,
    submission_id: int,
    attempt: int,
    step: StepName | None = None,
    causation_id: UUID | None = None,
    work_key: str | None = None,
) -> Envelope:
    """Wrap a payload, naming its type from the registry."""
    return Envelope(
        type=TYPE_OF[type(payload)],
        submission_id=submission_id,
        attempt=attempt,
        step=step,
        causation_id=causation_id,
        work_key=work_key,
        data=payload.model_dump(mode="json"),
    )
