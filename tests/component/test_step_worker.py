"""The step worker with a fake bus and inbox: what it publishes for success, failure
and a step that keeps crashing."""

import contextlib
from collections.abc import AsyncIterator

import pytest

from contracts.config import GradingConfig
from contracts.messages import Envelope, StepRequest, StepResult, SubmissionInfo, envelope
from contracts.steps import StepName, StepStatus
from shared.errors import PoisonMessage
from shared.messaging.topology import Topology
from shared.pipeline import StepOutcome
from shared.worker import StepWorker

PLAN = [StepName.LOAD_TEMPLATE, StepName.BUILD_TREE, StepName.GRADE, StepName.FOCUS]


class FakeBus:
    topology = Topology("fake")
    delivery_limit = 3

    def __init__(self) -> None:
        self.published: list[tuple[str, Envelope]] = []

    async def publish(self, message: Envelope, routing_key: str) -> None:
        self.published.append((routing_key, message))


class FakeInbox:
    def __init__(self) -> None:
        self.marked: set[str] = set()

    @contextlib.asynccontextmanager
    async def exclusive(self, message: Envelope) -> AsyncIterator[None]:
        yield

    async def seen(self, message: Envelope) -> bool:
        return str(message.message_id) in self.marked

    async def attempt_finished(self, message: Envelope) -> bool:
        return False

    async def mark(self, message: Envelope) -> None:
        self.marked.add(str(message.message_id))


def work(step: StepName) -> Envelope:
    config = GradingConfig(id=1, external_assignment_id="a", criteria_config={"base": {}})
    info = SubmissionInfo(id=7, attempt=1, language="python", manifest={})
    return envelope(
        StepRequest(plan=PLAN, config=config, submission=info),
        submission_id=7,
        attempt=1,
        step=step,
    )


def worker(outcome: StepOutcome) -> tuple[StepWorker, FakeBus]:
    async def step_function(request: StepRequest, step: StepName) -> StepOutcome:
        return outcome

    bus = FakeBus()
    steps = {StepName.GRADE: step_function}
    return StepWorker("grading", bus, FakeInbox(), steps), bus  # type: ignore[arg-type]


async def test_success_publishes_the_result_then_the_next_step_with_the_context() -> None:
    graded = StepOutcome.success("graded", output={"final_score": 90}, context={"final_score": 90})
    step_worker, bus = worker(graded)
    await step_worker.handle(work(StepName.GRADE))
    assert [key for key, _ in bus.published] == ["result.GRADE", "step.FOCUS"]
    result = bus.published[0][1].payload(StepResult)
    assert result.status is StepStatus.SUCCESS
    assert result.output == {"final_score": 90}
    following = bus.published[1][1]
    assert following.step is StepName.FOCUS
    assert following.payload(StepRequest).context == {"GRADE": {"final_score": 90}}
    assert following.causation_id == bus.published[0][1].causation_id


async def test_a_failed_step_publishes_its_result_and_nothing_else() -> None:
    step_worker, bus = worker(StepOutcome.failure("bad", {"error_type": "x"}))
    await step_worker.handle(work(StepName.GRADE))
    assert [key for key, _ in bus.published] == ["result.GRADE"]


async def test_the_same_message_twice_is_handled_once() -> None:
    step_worker, bus = worker(StepOutcome.success("graded"))
    message = work(StepName.GRADE)
    await step_worker.handle(message)
    await step_worker.handle(message)
    assert len(bus.published) == 2


async def test_a_step_this_service_does_not_run_is_poison() -> None:
    step_worker, _ = worker(StepOutcome.success("graded"))
    with pytest.raises(PoisonMessage):
        await step_worker.handle(work(StepName.FEEDBACK))


async def test_giving_up_on_a_crashing_step_publishes_an_internal_error() -> None:
    step_worker, bus = worker(StepOutcome.success("never"))
    await step_worker.give_up(work(StepName.GRADE), RuntimeError("boom"))
    key, message = bus.published[0]
    result = message.payload(StepResult)
    assert key == "result.GRADE"
    assert result.status is StepStatus.FAIL
    assert result.error_details == {
        "error_type": "internal_error",
        "phase": "GRADE",
        "detail": "RuntimeError",
    }
