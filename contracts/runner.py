"""The pull-runner API's bodies (docs/runners.md): registering runners, and what a
runner and the server say about a job (claim, heartbeat, steps, log, completion)."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.base import Contract
from contracts.config import MAX_RUNNER_LABELS, RunnerLabel
from contracts.messages import StepRequest, StepResult
from contracts.steps import StepName

JobState = Literal["pending", "running", "succeeded", "failed", "cancelled"]
JobOutcome = Literal["succeeded", "failed", "cancelled"]
# How long a runner may keep one long poll open.
MAX_WAIT_S = 60


class RunnerIn(Contract):
    """POST /api/v1/runners: a machine an admin lets pull jobs with these labels."""

    name: str = Field(min_length=1, max_length=200)
    labels: list[RunnerLabel] = Field(default_factory=list, max_length=MAX_RUNNER_LABELS)


class RunnerView(Contract):
    id: int
    name: str
    labels: list[str]
    version: str | None = None
    last_heartbeat_at: datetime | None = None
    online: bool = Field(description="it sent a heartbeat within the last two lease periods")
    current_job: int | None = None
    created_at: datetime
    revoked_at: datetime | None = None


class RunnerCreated(RunnerView):
    """The answer to registering a runner: the only time its token is shown."""

    token: str = Field(description="The agent's `--token`; shown only once")


class JobSummary(Contract):
    """A job a runner could claim (GET /api/v1/runner/jobs)."""

    id: int
    submission_id: int
    attempt: int
    labels: list[str]
    created_at: datetime


class JobRequestIn(Contract):
    """POST /api/v1/runner/jobs/request: wait up to `wait_s` for a job and claim it."""

    wait_s: float = Field(default=20, ge=0, le=MAX_WAIT_S)
    # Serve only jobs these labels cover (the agent's --labels): a subset of the labels
    # the runner was registered with; unset, all of those.
    labels: list[RunnerLabel] | None = Field(default=None, max_length=MAX_RUNNER_LABELS)


class ClaimedJob(Contract):
    """A claimed job: everything the runner needs, and the token that fences its claim.

    `request` is the step request of the job's first step (config snapshot, plan,
    the submission's manifest and limits); `steps` the ones the runner runs, in order.
    Every later call about the job carries `job_token` as `X-Job-Token`."""

    id: int
    submission_id: int
    attempt: int
    claim: int = Field(
        description="1 for the first claim; a job whose lease expired is claimed again"
    )
    job_token: str
    lease_expires_at: datetime
    lease_s: float = Field(description="how long a heartbeat extends the lease: beat at a third")
    steps: list[StepName]
    request: StepRequest


class HeartbeatIn(Contract):
    """POST /api/v1/runner/heartbeat; with `job_id` (and X-Job-Token) it extends the lease."""

    job_id: int | None = Field(default=None, ge=1)
    version: str | None = Field(default=None, max_length=100)


class HeartbeatOut(Contract):
    cancel: bool = Field(description="stop the job: course staff cancelled it")
    lease_expires_at: datetime | None = None


class StepReported(Contract):
    """The answer to a step report: `recorded` is false for one reported before."""

    recorded: bool


class JobCompleteIn(Contract):
    """PUT /api/v1/runner/jobs/{id}/complete. `last_result` is the job's last step's
    result, recorded with the completion in one transaction (a runner that dies between
    the two leaves no graded job without its next step). After success, when the plan
    goes on (FEEDBACK), `next_request` is its step request with the context the steps
    handed over; the services then run it."""

    outcome: JobOutcome
    last_result: StepResult | None = None
    next_request: StepRequest | None = None
    detail: str = Field(default="", max_length=2000)


class JobView(Contract):
    id: int
    submission_id: int
    attempt: int
    state: JobState
    claims: int
    runner_id: int | None = None
    steps: list[StepName]
    reported_steps: list[StepName] = Field(default_factory=list)
    created_at: datetime
    claimed_at: datetime | None = None
    finished_at: datetime | None = None
    cancel_requested: bool = False


class LogAppended(Contract):
    length: int = Field(description="bytes of log stored for this claim")


class ClaimLog(Contract):
    claim: int
    runner_id: int | None = None
    runner_name: str | None = None
    log: str
    updated_at: datetime


class JobLogs(Contract):
    job_id: int
    attempt: int
    state: JobState
    claims: list[ClaimLog]


class SubmissionLogs(Contract):
    """GET /api/v1/submissions/{id}/logs: every runner job of every attempt, in order."""

    submission_id: int
    jobs: list[JobLogs]


class CancelAccepted(Contract):
    submission_id: int
    attempt: int
    status: Literal["cancelled"] = "cancelled"
