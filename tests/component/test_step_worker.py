"""The step worker with a fake bus and inbox: what it publishes for success, failure
and a step that keeps crashing."""

import contextlib
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from contracts.config import GradingConfig
from contracts.handover import GradeHandOver
from contracts.messages import (
    Envelope,
    SandboxRelease,
    StepRequest,
    StepResult,
    SubmissionInfo,
    envelope,
)
from contracts.results import ResultTree
from contracts.steps import StepName, StepStatus
from shared.db.inbox import idempotency_key
from shared.db.outbox import Outgoing
from shared.errors import PoisonMessage
from shared.messaging.topology import Topology
from shared.pipeline import StepOutcome
from shared.sandbox_client import SandboxLost
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
    """Marks by the real idempotency key; what a recorded outcome queues goes to the
    bus's list, as the outbox relay would publish it."""

    def __init__(self, bus: FakeBus) -> None:
        self.bus = bus
        self.marked: set[str] = set()
        self.claimed: list[str] = []

    @contextlib.asynccontextmanager
    async def exclusive(self, message: Envelope) -> AsyncIterator[None]:
        yield

    @contextlib.asynccontextmanager
    async def working_on(self, message: Envelope) -> AsyncIterator[None]:
        self.claimed.append(idempotency_key(message))
        yield

    async def seen(self, message: Envelope) -> bool:
        return idempotency_key(message) in self.marked

    async def attempt_finished(self, message: Envelope) -> bool:
        return False

    async def mark(self, message: Envelope) -> None:
        self.marked.add(idempotency_key(message))

    async def record_once(self, message: Envelope, outputs: list[Outgoing]) -> bool:
        if await self.seen(message):
            return False
        await self.mark(message)
        self.bus.published += [(out.routing_key, out.envelope) for out in outputs]
        return True


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
    return StepWorker("grading", bus, FakeInbox(bus), steps), bus  # type: ignore[arg-type]


async def test_success_publishes_the_result_then_the_next_step_with_the_context() -> None:
    tree = ResultTree(final_score=90, children={})
    handed = GradeHandOver(final_score=90, result_tree=tree)
    graded = StepOutcome.success("graded", output={"final_score": 90}, context=handed)
    step_worker, bus = worker(graded)
    await step_worker.handle(work(StepName.GRADE))
    assert [key for key, _ in bus.published] == ["result.GRADE", "step.FOCUS"]
    result = bus.published[0][1].payload(StepResult)
    assert result.status is StepStatus.SUCCESS
    assert result.output == {"final_score": 90}
    following = bus.published[1][1]
    assert following.step is StepName.FOCUS
    assert following.data["context"] == {"GRADE": handed.model_dump(mode="json")}
    assert following.payload(StepRequest).context.graded() == handed
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


async def test_a_give_up_after_a_recorded_success_sends_nothing() -> None:
    """One outcome per step: the success was recorded, so the later give-up (its ack was
    lost, say) must not also report an internal error."""
    step_worker, bus = worker(StepOutcome.success("graded"))
    message = work(StepName.GRADE)
    await step_worker.handle(message)
    await step_worker.give_up(message, RuntimeError("ack lost"))
    results = [m.payload(StepResult) for key, m in bus.published if key == "result.GRADE"]
    assert [r.status for r in results] == [StepStatus.SUCCESS]


async def test_a_step_is_claimed_while_it_runs() -> None:
    step_worker, _ = worker(StepOutcome.success("graded"))
    message = work(StepName.GRADE)
    await step_worker.handle(message)
    assert step_worker.inbox.claimed == [idempotency_key(message)]  # type: ignore[attr-defined]


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
    assert result.error_details is not None
    assert result.error_details.model_dump() == {
        "error_type": "internal_error",
        "phase": "GRADE",
        "detail": "RuntimeError",
    }


async def test_a_request_whose_hand_over_does_not_parse_still_ends_as_a_failed_step() -> None:
    step_worker, bus = worker(StepOutcome.success("never"))
    message = work(StepName.GRADE)
    broken = message.model_copy(update={"data": {**message.data, "context": {"SANDBOX": 7}}})

    with pytest.raises(ValidationError):
        await step_worker.handle(broken)
    await step_worker.give_up(broken, ValueError("unreadable"))

    [(key, published)] = bus.published
    assert key == "result.GRADE"
    failure = published.payload(StepResult).error_details
    assert failure is not None
    assert failure.model_dump() == {
        "error_type": "internal_error",
        "phase": "GRADE",
        "detail": "ValueError",
    }


async def test_a_message_type_this_worker_has_no_handler_for_is_poison() -> None:
    step_worker, _ = worker(StepOutcome.success("graded"))
    release = envelope(SandboxRelease(), submission_id=7, attempt=1)

    with pytest.raises(PoisonMessage, match=r"sandbox\.release\.v1"):
        await step_worker.handle(release)


def crashing_worker(error: Exception) -> tuple[StepWorker, FakeBus]:
    async def step_function(request: StepRequest, step: StepName) -> StepOutcome:
        raise error

    bus = FakeBus()
    steps = {StepName.GRADE: step_function}
    return StepWorker("grading", bus, FakeInbox(bus), steps), bus  # type: ignore[arg-type]


async def test_a_lost_sandbox_sends_the_attempt_back_to_sandbox_not_a_zero_grade() -> None:
    """Issue 15's measurement: a sandbox restart graded every later test 0. The step is
    not reported; the attempt leases a fresh sandbox and runs the steps again."""
    step_worker, bus = crashing_worker(SandboxLost("no live lease 'x'", "LeaseNotFound"))
    await step_worker.handle(work(StepName.GRADE))
    [(key, again)] = bus.published
    assert key == "step.SANDBOX"
    assert again.step is StepName.SANDBOX
    assert again.work_key == "sandbox-again-1:GRADE"  # the step the tracker still lacks
    assert again.payload(StepRequest).plan == PLAN


async def test_the_steps_after_a_sandbox_again_keep_its_work_key() -> None:
    step_worker, bus = worker(StepOutcome.success("graded"))
    again = work(StepName.GRADE).model_copy(update={"work_key": "sandbox-again-1:GRADE"})
    await step_worker.handle(again)
    following = dict(bus.published)["step.FOCUS"]
    assert following.work_key == "sandbox-again-1:GRADE"
    assert dict(bus.published)["result.GRADE"].work_key is None  # the tracker's key


async def test_a_sandbox_lost_again_and_again_fails_the_step() -> None:
    step_worker, bus = crashing_worker(SandboxLost("no live lease 'x'", "LeaseNotFound"))
    twice = work(StepName.GRADE).model_copy(update={"work_key": "sandbox-again-2:GRADE"})
    with pytest.raises(SandboxLost, match="lost 3 times"):
        await step_worker.handle(twice)
    assert bus.published == []


async def test_in_a_chain_run_again_a_failure_before_the_lost_step_is_reported_as_it() -> None:
    """The tracker already has this step's first (successful) outcome and would drop a
    second; reported as the lost step's, the failure still ends the attempt."""
    step_worker, bus = worker(StepOutcome.failure("flaky", {"error_type": "x"}))
    rerun = work(StepName.GRADE).model_copy(update={"work_key": "sandbox-again-1:FOCUS"})
    await step_worker.handle(rerun)
    [(key, message)] = bus.published
    assert key == "result.FOCUS"
    failed = message.payload(StepResult)
    assert (failed.step, failed.status) == (StepName.FOCUS, StepStatus.FAIL)
    assert failed.error_details is not None
    assert failed.error_details.model_dump()["error_type"] == "internal_error"


async def test_in_a_chain_run_again_a_give_up_before_the_lost_step_is_the_lost_steps() -> None:
    step_worker, bus = worker(StepOutcome.success("never"))
    rerun = work(StepName.GRADE).model_copy(update={"work_key": "sandbox-again-1:FOCUS"})
    await step_worker.give_up(rerun, RuntimeError("boom"))
    assert [key for key, _ in bus.published] == ["result.FOCUS"]
