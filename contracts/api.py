"""The bodies of the HTTP API that are not messages: what intake answers, and the one
problem shape of every error (RFC 9457, `application/problem+json`)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from contracts.base import Contract
from contracts.results import PipelineExecution, ResultTree
from contracts.steps import SubmissionStatus


class FieldProblem(Contract):
    """One thing wrong with the request, at its JSON path (`["body", "language"]`)."""

    loc: list[str | int]
    msg: str
    type: str = "value_error"


class Problem(Contract):
    """Every 4xx and 5xx body. `errors` lists each wrong field of a 422."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] = Field(default_factory=list)


class Health(Contract):
    status: Literal["ok"] = "ok"


class Readiness(Contract):
    """GET /ready: whether intake can serve now, and which dependency is down if not."""

    ready: bool
    database: bool
    broker: bool


class Accepted(Contract):
    id: int
    status: Literal["queued"] = "queued"


class TemplateSummary(Contract):
    name: str
    description: str
    requires_sandbox: bool
    test_functions: list[str]


class TestFunctionDetail(Contract):
    name: str
    description: str
    parameters: dict[str, Any] = Field(description="JSON Schema of the function's parameters")


class TemplateDetail(Contract):
    name: str
    description: str
    requires_sandbox: bool
    test_functions: list[TestFunctionDetail]


class ExportDelivery(Contract):
    """The delivery of an attempt's result to its webhook: never part of the grade."""

    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_error: str | None
    updated_at: datetime
    delivered_at: datetime | None


class SubmissionView(Contract):
    """GET /api/v1/submissions/{id}: the latest attempt, its grade and its record."""

    id: int
    status: SubmissionStatus
    attempt: int
    grading_config_id: int
    external_user_id: str
    username: str
    language: str
    created_at: datetime
    final_score: float | None
    feedback: str | None
    result_tree: ResultTree | None
    pipeline_execution: PipelineExecution
    export: ExportDelivery | None = None  # None: the config exports nowhere
    # What the sender of a result graded elsewhere said about it (repository, commit).
    submission_metadata: dict[str, Any] | None = None


TokenRole = Literal["admin", "instructor", "integration", "runner"]


class TokenIn(Contract):
    """POST /api/v1/tokens. `assignments` limits an instructor to those assignments
    (their external_assignment_id); left out, it is granted every one."""

    role: TokenRole
    name: str = Field(min_length=1, max_length=200)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    assignments: list[str] | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _grants_are_an_instructors(self) -> "TokenIn":
        if self.assignments is not None and self.role != "instructor":
            raise ValueError("assignments are granted to instructor tokens only")
        return self


class TokenView(Contract):
    """A token as listed: never its value, only its public prefix."""

    id: int
    name: str
    role: TokenRole
    prefix: str
    assignments: list[str] | None = None
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class TokenCreated(TokenView):
    """The answer to creating a token: the only time its value is shown."""

    token: str = Field(description="Send as `Authorization: Bearer <token>`; shown only once")


class SubmissionSummary(Contract):
    """One submission in a list: its latest attempt, without the record and feedback."""

    id: int
    grading_config_id: int
    external_assignment_id: str
    external_user_id: str
    username: str
    language: str
    status: SubmissionStatus
    attempt: int
    final_score: float | None = None
    created_at: datetime


class SubmissionPage(Contract):
    """A page of submissions, newest first; `next_cursor` asks for the next one."""

    items: list[SubmissionSummary]
    next_cursor: str | None = None


class ExternalResultIn(Contract):
    """POST /api/v1/submissions/external-results: a result graded elsewhere (the GitHub
    Action's external mode), with the reference's field names."""

    grading_config_id: int = Field(ge=1, le=2**63 - 1)
    external_user_id: str = Field(min_length=1, max_length=200)
    username: str = Field(min_length=1, max_length=200)
    language: str
    status: Literal["completed", "failed"]
    final_score: float = Field(ge=0, le=100)
    feedback: str | None = None
    result_tree: ResultTree | None = None
    focus: dict[str, Any] | None = None
    pipeline_execution: PipelineExecution | None = None
    execution_time_ms: int = Field(default=0, ge=0)
    error_message: str | None = None
    submission_metadata: dict[str, Any] | None = None


class ExecutionFile(Contract):
    filename: str = Field(min_length=1, max_length=255)
    content: str = Field(max_length=64 * 1024)


class ExecuteIn(Contract):
    """POST /api/v1/execute: run one command against up to four stdin cases, in a
    sandbox of its own, without grading; nothing is stored. `program_command` is split
    into a program and its arguments (no shell: give `sh -c '...'` to have one)."""

    language: str
    submission_files: list[ExecutionFile] = Field(min_length=1, max_length=20)
    program_command: str = Field(min_length=1, max_length=256)
    test_cases: list[list[str]] | None = Field(default=None, min_length=1, max_length=4)


ExecutionCategory = Literal[
    "success", "runtime_error", "timeout", "system_error", "compilation_error"
]


class ExecutionResult(Contract):
    category: ExecutionCategory
    stdout: str
    stderr: str
    exit_code: int
    execution_time: float = Field(description="seconds, wall clock")
    output: str = Field(description="stdout, then stderr")
    error_message: str | None = None
    truncated: bool = False


class ExecuteOut(Contract):
    """The results in order; after a timeout the batch stops (`stopped_early`)."""

    results: list[ExecutionResult]
    stopped_early: bool = False


class RegradeIn(Contract):
    """POST /api/v1/submissions/{id}/regrade: grade the same files again, against the
    config version the latest attempt used (`same`) or the assignment's newest."""

    config: Literal["same", "latest"] = "same"


class RegradeAccepted(Contract):
    id: int
    attempt: int
    status: Literal["queued"] = "queued"


class AttemptView(Contract):
    """One attempt of a submission, with its own record (none is ever overwritten)."""

    attempt: int
    config_id: int
    config_version: int
    status: SubmissionStatus
    accepted_at: datetime
    finished_at: datetime | None = None
    final_score: float | None = None
    feedback: str | None = None
    result_tree: ResultTree | None = None
    pipeline_execution: PipelineExecution | None = None


class TestChange(Contract):
    """One test in two attempts; None where the test was not in that attempt."""

    path: str
    verdict_before: str | None
    verdict_after: str | None
    score_before: float | None
    score_after: float | None


class AttemptDiff(Contract):
    """What changed from attempt `against` to `attempt`: the score, and each test whose
    verdict or score moved."""

    attempt: int
    against: int
    final_score_before: float | None
    final_score_after: float | None
    score_change: float | None
    tests: list[TestChange]


class RegradeBatchAccepted(Contract):
    """POST /api/v1/configs/{id}/regrade: the batch, and how many submissions it holds."""

    batch_id: int
    submissions: int
    status: Literal["queued"] = "queued"


class RegradeBatchProgress(Contract):
    """GET /api/v1/regrades/{batch}: `waiting` in the lane, `queued` (started, not
    ended), `done` (completed) and `failed` (failed, superseded or cancelled)."""

    batch_id: int
    external_assignment_id: str
    total: int
    waiting: int
    queued: int
    done: int
    failed: int


class WebhookDelivery(Contract):
    """The answer to a GitHub delivery: a submission made (`accepted`), or why none was."""

    status: Literal["accepted", "ignored"]
    id: int | None = None
    reason: str | None = None
