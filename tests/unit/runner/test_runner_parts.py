"""Pieces of the pull-runner feature that need no server: a config's execution block,
which steps make a runner job, and what the agent's log says."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from contracts.config import GradingConfigIn
from contracts.failures import FailedCommand, SetupCommandFailed
from contracts.messages import StepResult
from contracts.steps import StepName, StepStatus
from services.runner.logbook import LogBook
from shared.pipeline import runner_steps

BASE = {"external_assignment_id": "hw", "criteria_config": {"base": {"weight": 100}}}


def test_execution_defaults_to_the_services() -> None:
    config = GradingConfigIn.model_validate(BASE)

    assert config.execution.mode == "service"
    assert config.execution.labels == []


def test_a_bad_label_is_refused_naming_where_it_is() -> None:
    with pytest.raises(ValidationError) as raised:
        GradingConfigIn.model_validate(
            {**BASE, "execution": {"mode": "runner", "labels": ["GPU!"]}}
        )

    assert raised.value.errors()[0]["loc"] == ("execution", "labels", 0)


def test_a_runner_job_is_the_plans_steps_from_sandbox_to_focus() -> None:
    plan = [
        StepName.LOAD_TEMPLATE,
        StepName.BUILD_TREE,
        StepName.SANDBOX,
        StepName.PRE_FLIGHT,
        StepName.GRADE,
        StepName.FOCUS,
        StepName.FEEDBACK,
    ]

    assert runner_steps(plan) == [
        StepName.SANDBOX,
        StepName.PRE_FLIGHT,
        StepName.GRADE,
        StepName.FOCUS,
    ]


def result(step: StepName, **fields: object) -> StepResult:
    now = datetime.now(UTC)
    return StepResult.model_validate(
        {
            "step": step,
            "status": StepStatus.SUCCESS,
            "message": "done",
            "plan": [step],
            "started_at": now - timedelta(milliseconds=250),
            "finished_at": now,
            **fields,
        }
    )


def test_the_log_shows_each_tests_verdict_time_and_memory() -> None:
    test = {
        "path": "base/Addition/expect_output",
        "verdict": "wrong_answer",
        "score": 0.0,
        "measured": {"cpu_ms": 12, "wall_ms": 30, "peak_memory_kb": 9000},
    }
    tree = {"children": {"base": {"tests": [], "subjects": [{"tests": [test], "subjects": []}]}}}
    book = LogBook()

    book.step(result(StepName.GRADE, output={"result_tree": tree}))

    text = book.data.decode()
    assert "GRADE: success in 250 ms - done" in text
    assert (
        "base/Addition/expect_output: wrong_answer score 0, CPU 12 ms, wall 30 ms, memory 9000 KB"
        in text
    )


def test_the_log_shows_a_failed_setup_commands_output() -> None:
    failed = SetupCommandFailed(
        command_name="compile",
        failed_command=FailedCommand(command="gcc main.c", exit_code=1, stderr="main.c:1: error\n"),
    )
    book = LogBook()

    book.step(
        result(StepName.PRE_FLIGHT, status=StepStatus.FAIL, error_details=failed.model_dump())
    )

    text = book.data.decode()
    assert "$ gcc main.c (exit code 1)" in text
    assert "| main.c:1: error" in text
