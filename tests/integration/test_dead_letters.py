"""`autograder dead-letters list|redrive`: a person sees what was dead-lettered and, once
the cause is fixed, sends it back; a redriven message is handled exactly once."""

import asyncio

import pytest

from contracts.messages import envelope
from contracts.steps import StepName
from services.cli import main
from shared.db.inbox import Inbox
from shared.messaging.topology import step_key
from shared.pipeline import StepOutcome
from shared.runtime import Runtime
from tests.integration.test_outbox_and_dead_letters import dead_letters
from tests.integration.test_redelivery import CountingWorker, handled, seeded_submission
from tests.support import Isolation, eventually

pytestmark = pytest.mark.integration


async def test_a_given_up_step_is_listed_then_redriven_and_handled_once(
    isolation: Isolation, demo_config: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI runs in a thread (it has its own event loop) and reads the environment.
    runtime = await Runtime.open(isolation.settings())
    try:
        broken = True
        ran: list[StepName] = []

        async def focus(request: object, step: StepName) -> StepOutcome:
            if broken:
                raise RuntimeError("a bug, fixed after the message died")
            ran.append(step)
            return StepOutcome.success("ranked")

        worker = CountingWorker(
            "grading", runtime.bus, Inbox(runtime.pool, "grading"), {StepName.FOCUS: focus}
        )
        await worker.start()
        submission_id, request = await seeded_submission(runtime, demo_config)
        work = envelope(request, submission_id=submission_id, attempt=1, step=StepName.FOCUS)
        await runtime.bus.publish(work, step_key(StepName.FOCUS))
        await eventually(lambda: dead_letters(runtime, "grading", 1))

        assert await asyncio.to_thread(main, ["dead-letters", "list", "--service", "grading"]) == 0
        listed = capsys.readouterr().out
        assert f"step.requested.v1\tsubmission {submission_id} attempt 1 step FOCUS" in listed
        assert "1 dead message(s)" in listed
        assert await dead_letters(runtime, "grading", 1)  # listing takes nothing away

        broken = False
        handled_before = worker.handled
        assert (
            await asyncio.to_thread(main, ["dead-letters", "redrive", "--service", "grading"]) == 0
        )
        assert "sent 1 message(s)" in capsys.readouterr().out
        await handled(worker, handled_before + 1)

        assert ran == [StepName.FOCUS]
        assert await dead_letters(runtime, "grading", 0)
    finally:
        await runtime.close()


def test_an_unknown_service_is_refused_with_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["dead-letters", "list", "--service", "gradng"])

    assert exit_info.value.code == 2
    assert "'grading'" in capsys.readouterr().err
