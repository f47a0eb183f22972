"""What intake queues for a new submission: the first steps' results, then the work."""

from contracts.config import GradingConfig
from contracts.messages import StepResult
from contracts.steps import StepStatus
from services.intake.adapters.postgres import NewSubmission
from services.intake.logic import first_steps
from services.intake.submissions import outgoing
from shared.messaging.topology import Topology


def queued_keys(template_name: str) -> tuple[list[str], list[StepResult]]:
    criteria = {"base": {"tests": [{"name": "expect_output", "expected_output": "1"}]}}
    config = GradingConfig(
        id=1, external_assignment_id="a", template_name=template_name, criteria_config=criteria
    )
    first = first_steps(config)
    new = NewSubmission(config, "u", "ada", "python", "en", {}, first.plan)
    messages = outgoing(7, {}, new, first, Topology("t"))
    results = [m.payload(StepResult) for _, key, m in messages if key.startswith("result.")]
    return [key for _, key, _ in messages], results


def test_a_template_that_no_longer_loads_is_recorded_and_nothing_runs() -> None:
    keys, results = queued_keys("a_template_removed_since")

    assert keys == ["tracker.accepted", "result.LOAD_TEMPLATE"]
    assert results[0].status is StepStatus.FAIL


def test_a_loadable_config_queues_both_results_then_the_first_service_step() -> None:
    keys, results = queued_keys("input_output")

    assert keys == ["tracker.accepted", "result.LOAD_TEMPLATE", "result.BUILD_TREE", "step.SANDBOX"]
    assert all(result.status is StepStatus.SUCCESS for result in results)
