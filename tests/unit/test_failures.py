"""error_details: typed for the kinds this version knows, kept whole for the others."""

from datetime import UTC, datetime

from contracts.failures import RequiredFileMissing, UnknownFailure
from contracts.messages import StepResult
from contracts.steps import StepName, StepStatus

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def failed_with(details: dict[str, object]) -> StepResult:
    return StepResult.model_validate(
        {
            "step": StepName.PRE_FLIGHT,
            "status": StepStatus.FAIL,
            "message": "m",
            "error_details": details,
            "plan": [StepName.PRE_FLIGHT],
            "started_at": NOW,
            "finished_at": NOW,
        }
    )


def test_a_known_kind_is_read_as_its_model_and_written_in_the_reference_shape() -> None:
    details = {
        "error_type": "required_file_missing",
        "phase": "required_files",
        "missing_file": "a.c",
    }

    result = failed_with(details)

    assert result.error_details == RequiredFileMissing(missing_file="a.c")
    assert result.model_dump(mode="json")["error_details"] == details  # no null near_miss


def test_a_kind_from_a_newer_writer_is_kept_field_for_field() -> None:
    details = {"error_type": "quota_exceeded", "limit": 3, "window": "1h"}

    result = failed_with(details)

    assert isinstance(result.error_details, UnknownFailure)
    assert result.model_dump(mode="json")["error_details"] == details
