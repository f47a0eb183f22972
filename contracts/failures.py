"""Why a step failed: the `error_details` of a failed step, one model per kind.

Their field names are the reference's (reference/pipeline-execution-tracking.txt), so
`pipeline_execution` shows them unchanged; the feedback service reads them to write
the text a student reads. A kind this version does not know (a newer writer) is kept
whole as an UnknownFailure.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import Contract
from contracts.sandbox import Verdict


def _omitted_when_absent() -> Any:
    return Field(default=None, exclude_if=lambda value: value is None)


class RequiredFileMissing(Contract):
    error_type: Literal["required_file_missing"] = "required_file_missing"
    phase: Literal["required_files"] = "required_files"
    missing_file: str
    near_miss: str | None = _omitted_when_absent()  # the same name in another case


class FailedCommand(Contract):
    command: str
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    verdict: Verdict | None = _omitted_when_absent()  # a limit that stopped it


class SetupCommandFailed(Contract):
    error_type: Literal["setup_command_failed"] = "setup_command_failed"
    phase: Literal["setup_commands"] = "setup_commands"
    command_name: str
    failed_command: FailedCommand


class ConfigProblem(Contract):
    loc: list[str | int]
    msg: str


class InvalidCriteria(Contract):
    error_type: Literal["invalid_criteria"] = "invalid_criteria"
    problems: list[ConfigProblem]


class InvalidCustomTemplate(Contract):
    error_type: Literal["invalid_custom_template"] = "invalid_custom_template"
    problems: list[ConfigProblem]


class TemplateNotFound(Contract):
    error_type: Literal["template_not_found"] = "template_not_found"


class InternalError(Contract):
    """Not the student's fault: the step kept crashing and was given up."""

    error_type: Literal["internal_error"] = "internal_error"
    phase: str = ""
    detail: str = ""


class RunnerLost(Contract):
    """Not the student's fault: the pull runners grading it stopped answering (their
    lease expired `claims` times), or the job passed its overall time limit."""

    error_type: Literal["runner_lost"] = "runner_lost"
    phase: str = ""
    claims: int = 0
    detail: str = ""


class UnknownFailure(BaseModel):
    """A kind of failure this version does not know: kept whole, field for field."""

    model_config = ConfigDict(frozen=True, extra="allow")

    error_type: str


_KNOWN = (
    RequiredFileMissing
    | SetupCommandFailed
    | InvalidCriteria
    | InvalidCustomTemplate
    | TemplateNotFound
    | InternalError
    | RunnerLost
)
KnownFailure = Annotated[_KNOWN, Field(discriminator="error_type")]
# A known kind when the tag says so, else the unknown one.
ErrorDetails = Annotated[KnownFailure | UnknownFailure, Field(union_mode="left_to_right")]
# Any one of them, as a type for code that builds or reads them.
Failure = _KNOWN | UnknownFailure
