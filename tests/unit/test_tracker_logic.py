"""The tracker's decisions and the pipeline_execution it assembles (reference shape)."""

from datetime import UTC, datetime, timedelta

from contracts.messages import StepResult
from contracts.steps import PipelineStatus, StepName, StepStatus
from services.tracker.logic import AttemptState, Decision, decide, final_record

PLAN = [
    StepName.LOAD_TEMPLATE,
    StepName.BUILD_TREE,
    StepName.SANDBOX,
    StepName.PRE_FLIGHT,
    StepName.GRADE,
    StepName.FOCUS,
    StepName.FEEDBACK,
]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def result(
    step: StepName, at_ms: int, status: StepStatus = StepStatus.SUCCESS, **extra: object
) -> StepResult:
    return StepResult(
        step=step,
        status=status,
        message=f"{step.value} done",
        plan=PLAN,
        started_at=T0 + timedelta(milliseconds=at_ms),
        finished_at=T0 + timedelta(milliseconds=at_ms + 10),
        **extra,  # type: ignore[arg-type]
    )


def test_running_until_every_planned_step_succeeded() -> None:
    partial = [result(step, i * 10) for i, step in enumerate(PLAN[:-1])]
    assert decide(AttemptState(PLAN, partial, False)) is Decision.RUNNING
    everything = [*partial, result(StepName.FEEDBACK, 100)]
    assert decide(AttemptState(PLAN, everything, False)) is Decision.SUCCEEDED


def test_results_arriving_out_of_order_are_listed_in_plan_order() -> None:
    shuffled = [result(step, i * 10) for i, step in reversed(list(enumerate(PLAN)))]
    grade_output = {"final_score": 85.5, "result_tree": {"final_score": 85.5, "children": {}}}
    shuffled[2] = result(StepName.GRADE, 40, output=grade_output)
    record = final_record(AttemptState(PLAN, shuffled, False), PipelineStatus.SUCCESS)
    execution = record.pipeline_execution
    assert [s["name"] for s in execution["steps"]] == [s.value for s in PLAN]
    assert execution["total_steps_planned"] == 7
    assert execution["steps_completed"] == 7
    # first start at 0 ms, last end at 60 + 10 ms
    assert execution["execution_time_ms"] == 70
    assert record.final_score == 85.5
    assert record.status.value == "completed"


def test_a_failure_ends_the_run_with_reference_shaped_details() -> None:
    details = {
        "error_type": "required_file_missing",
        "phase": "required_files",
        "missing_file": "Main.java",
    }
    results = [
        result(StepName.LOAD_TEMPLATE, 0),
        result(StepName.BUILD_TREE, 10),
        result(StepName.SANDBOX, 20),
        result(StepName.PRE_FLIGHT, 30, StepStatus.FAIL, error_details=details),
    ]
    state = AttemptState(PLAN, results, False)
    assert decide(state) is Decision.FAILED
    record = final_record(state, PipelineStatus.FAILED, feedback="## Preflight Check Failed")
    execution = record.pipeline_execution
    assert execution["status"] == "failed"
    assert execution["failed_at_step"] == "PRE_FLIGHT"
    assert execution["steps_completed"] == 4
    assert "error_details" not in execution["steps"][0]
    assert execution["steps"][-1]["error_details"] == details
    assert record.result_tree is None
    assert record.final_score == 0.0
    assert record.feedback == "## Preflight Check Failed"
    assert list(execution) == [
        "status",
        "failed_at_step",
        "total_steps_planned",
        "steps_completed",
        "execution_time_ms",
        "steps",
    ]
