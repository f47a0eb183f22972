"""`autograder dead-letters list|redrive`: a person sees what was dead-lettered and, once
the cause is fixed, sends it back; a redriven message is handled exactly once."""

import asyncio

import pytest

from contracts.messages import Envelope, StepResult, envelope, utcnow
from contracts.steps import StepName, StepStatus
from services.cli import main
from shared.db.inbox import Inbox
from shared.messaging.topology import result_key, step_key
from shared.pipeline import StepOutcome, to_result
from shared.runtime import Runtime
from tests.integration.test_outbox_and_dead_letters import dead_letters
from tests.integration.test_redelivery import CountingWorker, handled, seeded_submission
from tests.support import Isolation, eventually, relaying

pytestmark = pytest.mark.integration


async def test_a_parked_message_is_listed_then_redriven_and_handled_once(
    isolation: Isolation, demo_config: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    """A step result the tracker could not record is parked (it has no give-up that could
    end the attempt), then sent back once the cause is fixed."""
    # The CLI runs in a thread (it has its own event loop) and reads the environment.
    runtime = await Runtime.open(isolation.settings())
    try:
        broken = True
        recorded: list[StepName] = []

        async def on_result(message: Envelope) -> None:
            if broken:
                raise RuntimeError("a bug, fixed after the message died")
            recorded.append(message.payload(StepResult).step)

        worker = CountingWorker(
            "tracker", runtime.bus, Inbox(runtime.pool, "tracker"), {}, {StepResult: on_result}
        )
        await worker.start()
        submission_id, request = await seeded_submission(runtime, demo_config)
        result = to_result(StepName.FOCUS, StepOutcome.success("ranked"), request.plan, utcnow())
        message = envelope(result, submission_id=submission_id, attempt=1, step=StepName.FOCUS)
        await runtime.bus.publish(message, result_key(StepName.FOCUS))
        await eventually(lambda: dead_letters(runtime, "tracker", 1))

        assert await asyncio.to_thread(main, ["dead-letters", "list", "--service", "tracker"]) == 0
        listed = capsys.readouterr().out
        assert f"step.completed.v1\tsubmission {submission_id} attempt 1 step FOCUS" in listed
        assert "1 dead message(s)" in listed
        assert await dead_letters(runtime, "tracker", 1)  # listing takes nothing away

        broken = False
        handled_before = worker.handled
        assert (
            await asyncio.to_thread(main, ["dead-letters", "redrive", "--service", "tracker"]) == 0
        )
        assert "sent 1 message(s)" in capsys.readouterr().out
        await handled(worker, handled_before + 1)

        assert recorded == [StepName.FOCUS]
        assert await dead_letters(runtime, "tracker", 0)
    finally:
        await runtime.close()


async def test_a_given_up_step_ends_as_a_failed_step_and_its_redrive_changes_nothing(
    isolation: Isolation, demo_config: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    """One outcome per step: the give-up recorded an internal error; the dead copy kept
    for people to read, redriven, must not run the step or report it again."""
    runtime = await Runtime.open(isolation.settings())
    try:
        ran: list[StepName] = []
        broken = True

        async def focus(request: object, step: StepName) -> StepOutcome:
            if broken:
                raise RuntimeError("a bug")
            ran.append(step)
            return StepOutcome.success("ranked")

        worker = CountingWorker(
            "grading", runtime.bus, Inbox(runtime.pool, "grading"), {StepName.FOCUS: focus}
        )
        async with relaying(runtime):
            await worker.start()
            submission_id, request = await seeded_submission(runtime, demo_config)
            work = envelope(request, submission_id=submission_id, attempt=1, step=StepName.FOCUS)
            await runtime.bus.publish(work, step_key(StepName.FOCUS))
            await eventually(lambda: dead_letters(runtime, "grading", 1))
            [failed] = await tracker_messages(runtime, 1)
            assert failed.payload(StepResult).status is StepStatus.FAIL

            broken = False
            handled_before = worker.handled
            assert await asyncio.to_thread(main, ["dead-letters", "redrive"]) == 0
            await handled(worker, handled_before + 1)
            await eventually(lambda: outbox_empty(runtime))

            assert ran == []
            assert await tracker_messages(runtime, 0) == []
    finally:
        await runtime.close()


async def outbox_empty(runtime: Runtime) -> bool:
    return await runtime.pool.fetchval("SELECT count(*) FROM outbox") == 0


async def tracker_messages(runtime: Runtime, count: int) -> list[Envelope]:
    """Take the messages waiting for the tracker, once there are `count` of them."""
    channel = await runtime.bus.connection.channel()
    queue = await channel.declare_queue(runtime.bus.topology.queue("tracker"), passive=True)
    taken: list[Envelope] = []

    async def enough() -> bool:
        message = await queue.get(fail=False, no_ack=True)
        if message is not None:
            taken.append(Envelope.model_validate_json(message.body))
        return len(taken) >= count

    if count:
        await eventually(enough)
    else:
        await enough()
    await channel.close()
    return taken


def test_an_unknown_service_is_refused_with_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["dead-letters", "list", "--service", "gradng"])

    assert exit_info.value.code == 2
    assert "'grading'" in capsys.readouterr().err
