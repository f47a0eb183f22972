"""An accepted submission survives a broker outage; poison ends in the dead queue."""

import aio_pika
import pytest

from contracts.messages import StepRequest, SubmissionAccepted, envelope, utcnow
from contracts.steps import StepName
from shared.db.outbox import OutboxRelay
from shared.errors import TransientError
from shared.messaging.consumer import make_consumer
from shared.messaging.topology import EXPORT_REQUESTED_KEY, TRACKER_ACCEPTED_KEY, step_key
from shared.pipeline import StepOutcome
from shared.runtime import Runtime
from tests.integration.test_redelivery import new_submission, queue_depth
from tests.support import TEST_RETRY_DELAYS_MS, Isolation, eventually, relaying

pytestmark = pytest.mark.integration


async def dead_letters(runtime: Runtime, service: str, count: int) -> bool:
    """Whether `count` messages wait in the service's dead queue (for eventually)."""
    return await queue_depth(runtime, runtime.bus.topology.dead_queue(service)) == count


class BrokerDown:
    """Stands in for the bus while RabbitMQ is unreachable."""

    async def publish_raw(self, exchange: str, routing_key: str, body: bytes) -> None:
        raise ConnectionError("broker unreachable")


async def test_outbox_keeps_messages_while_the_broker_is_down_and_sends_them_later(
    isolation: Isolation, demo_config: dict
) -> None:
    runtime = await Runtime.open(isolation.settings())
    try:
        repo, new = await new_submission(runtime, demo_config, [])
        config = new.config
        accepted = SubmissionAccepted(
            plan=[], config_id=config.id, language="python", accepted_at=utcnow()
        )
        exchange = runtime.bus.topology.pipeline_exchange

        async with repo.unit_of_work() as unit:
            sid = await unit.add_submission(new, await unit.put_files(new.files))
            message = envelope(accepted, submission_id=sid, attempt=1)
            await unit.add_messages([(exchange, TRACKER_ACCEPTED_KEY, message)])
        down = OutboxRelay(runtime.pool, BrokerDown())  # type: ignore[arg-type]
        with pytest.raises(ConnectionError):
            await down.publish_batch()
        pending = "SELECT count(*) FROM outbox"
        assert await runtime.pool.fetchval(pending) == 1
        assert await OutboxRelay(runtime.pool, runtime.bus).publish_batch() == 1
        assert await runtime.pool.fetchval(pending) == 0
        assert await queue_depth(runtime, runtime.bus.topology.queue("tracker")) == 1
    finally:
        await runtime.close()


async def test_a_malformed_message_goes_to_the_dead_queue_not_back_to_the_queue(
    isolation: Isolation,
) -> None:
    runtime = await Runtime.open(isolation.settings())
    try:
        handled: list[object] = []

        async def handler(message: object) -> None:
            handled.append(message)

        topology = runtime.bus.topology
        consumer = make_consumer(handler, delivery_limit=3)  # type: ignore[arg-type]
        await runtime.bus.consume(topology.queue("grading"), consumer)
        channel = await runtime.bus.connection.channel()
        exchange = await channel.get_exchange(topology.pipeline_exchange)
        await exchange.publish(aio_pika.Message(b"{not json"), routing_key="step.GRADE")
        await eventually(lambda: dead_letters(runtime, "grading", 1))
        assert handled == []
        assert await queue_depth(runtime, topology.queue("grading")) == 0
    finally:
        await runtime.close()


async def test_a_handler_that_keeps_crashing_is_retried_a_bounded_number_of_times(
    isolation: Isolation,
) -> None:
    runtime = await Runtime.open(isolation.settings())
    try:
        attempts: list[int] = []
        gave_up: list[BaseException] = []

        async def crashing(message: object) -> None:
            attempts.append(1)
            raise RuntimeError("boom")

        async def give_up(message: object, error: BaseException) -> None:
            gave_up.append(error)

        topology = runtime.bus.topology
        consumer = make_consumer(crashing, delivery_limit=3, on_give_up=give_up)  # type: ignore[arg-type]
        await runtime.bus.consume(topology.queue("export"), consumer)
        accepted = SubmissionAccepted(plan=[], config_id=1, language="c", accepted_at=utcnow())
        message = envelope(accepted, submission_id=1, attempt=1)
        await runtime.bus.publish(message, EXPORT_REQUESTED_KEY)
        await eventually(lambda: dead_letters(runtime, "export", 1))
        assert len(attempts) == 3  # the delivery limit, then given up once
        assert len(gave_up) == 1
    finally:
        await runtime.close()


async def test_an_envelope_whose_payload_does_not_fit_is_dead_lettered_at_once(
    isolation: Isolation,
) -> None:
    from shared.db.inbox import Inbox
    from shared.worker import StepWorker

    runtime = await Runtime.open(isolation.settings())
    try:
        topology = runtime.bus.topology
        worker = StepWorker("grading", runtime.bus, Inbox(runtime.pool, "grading"), {})
        await worker.start()
        accepted = SubmissionAccepted(plan=[], config_id=1, language="c", accepted_at=utcnow())
        wrong = envelope(accepted, submission_id=1, attempt=1).model_copy(
            update={"type": "step.requested.v1"}
        )
        await runtime.bus.publish(wrong, "step.GRADE")
        await eventually(lambda: dead_letters(runtime, "grading", 1))
        assert await queue_depth(runtime, topology.queue("grading")) == 0
    finally:
        await runtime.close()


async def test_publishing_what_no_queue_is_bound_to_is_an_error(isolation: Isolation) -> None:
    from aio_pika.exceptions import DeliveryError

    runtime = await Runtime.open(isolation.settings())
    try:
        accepted = SubmissionAccepted(plan=[], config_id=1, language="c", accepted_at=utcnow())
        with pytest.raises(DeliveryError):
            await runtime.bus.publish(envelope(accepted, submission_id=1, attempt=1), "step.NOBODY")
    finally:
        await runtime.close()


async def test_a_transient_failure_waits_in_a_delay_queue_and_then_succeeds(
    isolation: Isolation, demo_config: dict
) -> None:
    """Issue 10: a failing handler was requeued at once, so the delivery limit was spent
    in about 50 ms (a database restart of a few seconds lost submissions)."""
    from shared.db.inbox import Inbox
    from shared.worker import StepWorker
    from tests.integration.test_redelivery import seeded_submission

    runtime = await Runtime.open(isolation.settings())
    try:
        tries: list[int] = []

        async def flaky_focus(request: StepRequest, step: StepName) -> StepOutcome:
            tries.append(1)
            if len(tries) < 3:
                raise TransientError("the database is restarting")
            return StepOutcome.success("ranked")

        inbox = Inbox(runtime.pool, "grading")
        await StepWorker("grading", runtime.bus, inbox, {StepName.FOCUS: flaky_focus}).start()
        submission_id, request = await seeded_submission(runtime, demo_config)
        work = envelope(request, submission_id=submission_id, attempt=1, step=StepName.FOCUS)
        await runtime.bus.publish(work, step_key(StepName.FOCUS))

        async def result_published() -> bool:
            return await queue_depth(runtime, runtime.bus.topology.queue("tracker")) == 1

        async with relaying(runtime):
            await eventually(result_published)
        assert len(tries) == 3  # two waits, then success: published once
        topology = runtime.bus.topology
        for delay_ms in TEST_RETRY_DELAYS_MS:  # it waited in each delay queue in turn
            assert (
                await queue_depth(
                    runtime, topology.delay_queue(topology.queue("grading"), delay_ms)
                )
                == 0
            )
        assert await queue_depth(runtime, topology.dead_queue("grading")) == 0
    finally:
        await runtime.close()


async def test_service_queues_dead_letter_at_least_once(isolation: Isolation) -> None:
    """Dead-lettering waits for the dead queue's confirm (at-least-once), which RabbitMQ
    honours only with reject-publish overflow; read back from the broker itself."""
    import asyncio
    import json
    import shutil
    import subprocess

    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is needed to read queue arguments (apt install rabbitmq-server)")
    runtime = await Runtime.open(isolation.settings())
    try:
        command = ["rabbitmqctl", "list_queues", "name", "arguments", "--formatter", "json", "-q"]
        listed = (
            await asyncio.to_thread(
                subprocess.run, command, capture_output=True, text=True, check=True, timeout=60
            )
        ).stdout
        # Each argument is listed as [name, type, value].
        arguments = {
            queue["name"]: {name: value for name, _, value in queue["arguments"]}
            for queue in json.loads(listed)
        }
        grading = arguments[runtime.bus.topology.queue("grading")]
        assert grading["x-dead-letter-strategy"] == "at-least-once"
        assert grading["x-overflow"] == "reject-publish"
        assert grading["x-queue-type"] == "quorum"
    finally:
        await runtime.close()
