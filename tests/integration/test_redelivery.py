"""A redelivered or duplicated message changes nothing (real RabbitMQ and PostgreSQL)."""

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest

from contracts.config import GradingConfigIn
from contracts.failures import RequiredFileMissing
from contracts.messages import (
    Envelope,
    FailureFeedbackRendered,
    StepRequest,
    SubmissionAccepted,
    SubmissionInfo,
    envelope,
    utcnow,
)
from contracts.steps import StepName
from services.intake.adapters.postgres import IntakeRepository, NewSubmission
from services.tracker.adapters.postgres import PostgresAttemptStore
from services.tracker.handlers import Tracker
from shared.db.inbox import Inbox
from shared.messaging.topology import step_key
from shared.pipeline import StepOutcome, to_result
from shared.runtime import Runtime
from shared.worker import StepWorker
from tests.support import Isolation, eventually, relaying

pytestmark = pytest.mark.integration


async def queue_depth(runtime: Runtime, name: str) -> int:
    channel = await runtime.bus.connection.channel()
    queue = await channel.declare_queue(name, passive=True)
    await channel.close()
    return int(queue.declaration_result.message_count or 0)


async def new_submission(
    runtime: Runtime, demo_config: dict, plan: list[StepName]
) -> tuple[IntakeRepository, NewSubmission]:
    """A stored config and a submission to it, not yet written."""
    repo = IntakeRepository(runtime.pool)
    config = await repo.create_config(GradingConfigIn.model_validate(demo_config))
    return repo, NewSubmission(config, "u", "ada", "python", "en", {"main.py": b"x"}, plan)


async def seeded_submission(runtime: Runtime, demo_config: dict) -> tuple[int, StepRequest]:
    plan = [StepName.LOAD_TEMPLATE, StepName.BUILD_TREE, StepName.FOCUS, StepName.FEEDBACK]
    repo, new = await new_submission(runtime, demo_config, plan)
    config = new.config
    async with repo.unit_of_work() as unit:
        submission_id = await unit.add_submission(new, await unit.put_files(new.files))
    info = SubmissionInfo(id=submission_id, attempt=1, language="python", manifest={})
    tree = {"final_score": 50.0, "children": {}}
    context = {"GRADE": {"final_score": 50.0, "result_tree": tree}}
    return submission_id, StepRequest(plan=plan, config=config, submission=info, context=context)


@pytest.fixture
async def runtime(isolation: Isolation) -> AsyncIterator[Runtime]:
    """A runtime whose outbox relay publishes what workers record, as in a service."""
    opened = await Runtime.open(isolation.settings())
    async with relaying(opened):
        yield opened
    await opened.close()


async def outbox_sent(runtime: Runtime) -> None:
    """Wait until the relay has published everything recorded so far."""

    async def empty() -> bool:
        return await runtime.pool.fetchval("SELECT count(*) FROM outbox") == 0

    await eventually(empty)


class CountingWorker(StepWorker):
    """A step worker that counts the messages it finished handling (acked or skipped):
    a test waits for that count, then checks what did or did not happen."""

    handled = 0

    async def handle(self, message: Envelope) -> None:
        await super().handle(message)
        self.handled += 1


async def recording_focus_worker(runtime: Runtime) -> tuple[list[StepName], CountingWorker]:
    """A grading worker whose FOCUS step only records that it ran."""
    ran: list[StepName] = []

    async def focus(request: StepRequest, step: StepName) -> StepOutcome:
        ran.append(step)
        return StepOutcome.success("ranked")

    inbox = Inbox(runtime.pool, "grading")
    worker = CountingWorker("grading", runtime.bus, inbox, {StepName.FOCUS: focus})
    await worker.start()
    return ran, worker


async def handled(worker: CountingWorker, count: int) -> None:
    async def reached() -> bool:
        return worker.handled >= count

    await eventually(reached)


def tracker_of(runtime: Runtime) -> Tracker:
    return Tracker(PostgresAttemptStore(runtime.pool), runtime.bus, runtime.bus.topology)


async def test_a_duplicated_step_request_runs_once_and_publishes_once(
    runtime: Runtime, demo_config: dict
) -> None:
    submission_id, request = await seeded_submission(runtime, demo_config)
    ran, worker = await recording_focus_worker(runtime)
    work = envelope(request, submission_id=submission_id, attempt=1, step=StepName.FOCUS)
    await runtime.bus.publish(work, step_key(StepName.FOCUS))
    await runtime.bus.publish(work, step_key(StepName.FOCUS))  # the redelivery
    await handled(worker, 2)  # both copies went through the worker: now count
    await outbox_sent(runtime)
    assert ran == [StepName.FOCUS]
    assert await queue_depth(runtime, runtime.bus.topology.queue("tracker")) == 1
    assert await queue_depth(runtime, runtime.bus.topology.queue("feedback")) == 1


# A consumer that takes one message, says so, and never acks it: the test kills it.
TAKE_AND_HOLD = """
import asyncio, sys, aio_pika

async def main(url, queue_name):
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=1)
    queue = await channel.get_queue(queue_name, ensure=True)

    async def hold(message):
        print("taken", message.message_id, flush=True)

    await queue.consume(hold)
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_a_step_whose_consumer_was_killed_before_its_ack_is_redelivered_and_runs_once(
    runtime: Runtime, demo_config: dict
) -> None:
    """Redelivery by RabbitMQ itself: a consumer process takes the step and dies (kill -9)
    before acking; the broker gives the message to the next consumer, which runs it."""
    submission_id, request = await seeded_submission(runtime, demo_config)
    work = envelope(request, submission_id=submission_id, attempt=1, step=StepName.FOCUS)
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        TAKE_AND_HOLD,
        runtime.bus.url,
        runtime.bus.topology.queue("grading"),
        stdout=asyncio.subprocess.PIPE,
    )
    await runtime.bus.publish(work, step_key(StepName.FOCUS))
    assert holder.stdout is not None
    taken = await asyncio.wait_for(holder.stdout.readline(), 60)
    assert taken.decode().split() == ["taken", str(work.message_id)]
    holder.kill()
    await holder.wait()

    ran, worker = await recording_focus_worker(runtime)
    await handled(worker, 1)
    await outbox_sent(runtime)
    assert ran == [StepName.FOCUS]
    assert await queue_depth(runtime, runtime.bus.topology.queue("tracker")) == 1
    assert await queue_depth(runtime, runtime.bus.topology.queue("grading")) == 0


async def test_the_tracker_records_a_duplicated_step_result_once(
    runtime: Runtime, demo_config: dict
) -> None:
    submission_id, request = await seeded_submission(runtime, demo_config)
    loaded = StepOutcome.success("loaded")
    result = to_result(StepName.LOAD_TEMPLATE, loaded, request.plan, utcnow())

    def copy() -> Envelope:  # a new message id each time, as a duplicated publish has
        return envelope(result, submission_id=submission_id, attempt=1, step=result.step)

    first, second = copy(), copy()
    for message in (first, first, second):
        await tracker_of(runtime).on_step_completed(message)
    rows = await runtime.pool.fetch("SELECT step FROM step_events")
    assert [row["step"] for row in rows] == ["LOAD_TEMPLATE"]
    assert await runtime.pool.fetchval("SELECT status FROM attempts") == "running"


async def test_finishing_queues_the_final_status_and_release_once_even_when_redelivered(
    runtime: Runtime, demo_config: dict
) -> None:
    submission_id, _ = await seeded_submission(runtime, demo_config)
    plan = [StepName.LOAD_TEMPLATE, StepName.SANDBOX]
    await runtime.pool.execute("UPDATE attempts SET plan = $1", [s.value for s in plan])
    messages = [
        envelope(
            to_result(step, StepOutcome.success("ok"), plan, utcnow()),
            submission_id=submission_id,
            attempt=1,
            step=step,
        )
        for step in plan
    ]
    for message in [*messages, messages[-1]]:  # the last one is redelivered
        await tracker_of(runtime).on_step_completed(message)
    await outbox_sent(runtime)  # the relay sends what the finish queued
    releases = await queue_depth(runtime, runtime.bus.topology.queue("sandbox-control"))
    assert releases == 1  # once, though the last result came twice
    assert await runtime.pool.fetchval("SELECT status FROM attempts") == "completed"


async def test_a_step_of_an_attempt_the_tracker_already_ended_is_skipped(
    runtime: Runtime, demo_config: dict
) -> None:
    submission_id, request = await seeded_submission(runtime, demo_config)
    ran, worker = await recording_focus_worker(runtime)
    await runtime.pool.execute("UPDATE attempts SET finished_at = now(), status = 'failed'")
    work = envelope(request, submission_id=submission_id, attempt=1, step=StepName.FOCUS)
    await runtime.bus.publish(work, step_key(StepName.FOCUS))
    await handled(worker, 1)  # handled (and acked) before asserting it did not run
    assert ran == []
    assert await queue_depth(runtime, runtime.bus.topology.queue("tracker")) == 0
    assert await queue_depth(runtime, runtime.bus.topology.queue("grading")) == 0


async def test_a_result_that_arrives_after_the_failure_ended_the_run_joins_the_record(
    runtime: Runtime, demo_config: dict
) -> None:
    """Seen in CI: SANDBOX's result was retried while PRE_FLIGHT's failure ended the run,
    and the stored pipeline_execution missed SANDBOX (steps_completed 3 of 4)."""
    submission_id, _ = await seeded_submission(runtime, demo_config)
    plan = [StepName.LOAD_TEMPLATE, StepName.SANDBOX, StepName.PRE_FLIGHT]
    await runtime.pool.execute("UPDATE attempts SET plan = $1", [s.value for s in plan])
    missing = RequiredFileMissing(missing_file="main.c")
    outcomes = {
        StepName.LOAD_TEMPLATE: StepOutcome.success("loaded"),
        StepName.SANDBOX: StepOutcome.success("ready"),
        StepName.PRE_FLIGHT: StepOutcome.failure("Required file missing: main.c", missing),
    }
    messages = {
        step: envelope(
            to_result(step, outcome, plan, utcnow()),
            submission_id=submission_id,
            attempt=1,
            step=step,
        )
        for step, outcome in outcomes.items()
    }
    tracker = tracker_of(runtime)
    await tracker.on_step_completed(messages[StepName.LOAD_TEMPLATE])
    await tracker.on_step_completed(messages[StepName.PRE_FLIGHT])
    rendered = FailureFeedbackRendered(feedback="## Preflight Check Failed")
    await tracker.on_failure_feedback(envelope(rendered, submission_id=submission_id, attempt=1))

    await tracker.on_step_completed(messages[StepName.SANDBOX])  # late

    execution = await runtime.pool.fetchval("SELECT pipeline_execution FROM results")
    assert [step["name"] for step in execution["steps"]] == [s.value for s in plan]
    assert (execution["status"], execution["failed_at_step"]) == ("failed", "PRE_FLIGHT")
    assert execution["steps_completed"] == 3
    assert await runtime.pool.fetchval("SELECT status FROM attempts") == "failed"


async def test_current_step_only_moves_forward_when_results_arrive_out_of_order(
    runtime: Runtime, demo_config: dict
) -> None:
    """Issue 10: a submission failed at PRE_FLIGHT showed SANDBOX as its current step."""
    submission_id, _ = await seeded_submission(runtime, demo_config)
    plan = [StepName.LOAD_TEMPLATE, StepName.SANDBOX, StepName.PRE_FLIGHT, StepName.GRADE]
    await runtime.pool.execute("UPDATE attempts SET plan = $1", [s.value for s in plan])
    tracker = tracker_of(runtime)
    for step in (StepName.PRE_FLIGHT, StepName.SANDBOX):  # the later one first
        result = to_result(step, StepOutcome.success("ok"), plan, utcnow())
        await tracker.on_step_completed(
            envelope(result, submission_id=submission_id, attempt=1, step=step)
        )

    assert await runtime.pool.fetchval("SELECT current_step FROM attempts") == "PRE_FLIGHT"


async def test_a_newer_attempt_supersedes_one_still_running_and_frees_its_sandbox(
    runtime: Runtime, demo_config: dict
) -> None:
    """Issue 12 item 4: a regrade accepted while attempt 1 still runs ends attempt 1 as
    `superseded`, with its sandbox released and no failure text asked for."""
    submission_id, request = await seeded_submission(runtime, demo_config)
    plan = [StepName.LOAD_TEMPLATE, StepName.SANDBOX, StepName.GRADE]
    await runtime.pool.execute("UPDATE attempts SET plan = $1", [s.value for s in plan])
    await runtime.pool.execute(
        "INSERT INTO attempts (submission_id, attempt, config_id, plan)"
        " SELECT submission_id, 2, config_id, plan FROM attempts WHERE attempt = 1"
    )
    accepted = SubmissionAccepted(
        plan=plan, config_id=request.config.id, language="python", accepted_at=utcnow()
    )
    await tracker_of(runtime).on_accepted(
        envelope(accepted, submission_id=submission_id, attempt=2)
    )

    ended = await runtime.pool.fetch(
        "SELECT attempt, status, finished_at FROM attempts ORDER BY attempt"
    )
    assert [(r["attempt"], r["status"]) for r in ended] == [(1, "superseded"), (2, "queued")]
    record = await runtime.pool.fetchval("SELECT pipeline_execution->>'status' FROM results")
    assert record == "superseded"
    await outbox_sent(runtime)
    releases = await queue_depth(runtime, runtime.bus.topology.queue("sandbox-control"))
    assert releases == 1
    assert await queue_depth(runtime, runtime.bus.topology.queue("feedback")) == 0
