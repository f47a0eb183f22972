"""Real outages of a broker and a database the test owns (never the machine's shared
ones): what was decided is sent once they are back, without restarting anything."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aio_pika
import pytest

from contracts.messages import SubmissionAccepted, envelope, utcnow
from shared.db.outbox import enqueue
from shared.messaging.topology import TRACKER_ACCEPTED_KEY
from shared.runtime import Runtime
from shared.settings import CommonSettings
from tests.owned_services import OwnPostgres, OwnRabbitMQ, own_postgres, own_rabbitmq
from tests.support import TEST_RETRY_DELAYS_MS, Isolation, eventually, relaying

pytestmark = pytest.mark.integration


def settings_for(isolation: Isolation, **replaced: str) -> CommonSettings:
    values: dict[str, object] = {k.lower(): v for k, v in isolation.env().items()}
    values["autograder_retry_delays_ms"] = TEST_RETRY_DELAYS_MS
    values |= {k.lower(): v for k, v in replaced.items()}
    return CommonSettings(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def opened(settings: CommonSettings) -> AsyncIterator[Runtime]:
    runtime = await Runtime.open(settings)
    try:
        async with relaying(runtime):
            yield runtime
    finally:
        await runtime.close()


async def write_outbox(runtime: Runtime, submission_id: int) -> None:
    accepted = SubmissionAccepted(plan=[], config_id=1, language="c", accepted_at=utcnow())
    message = envelope(accepted, submission_id=submission_id, attempt=1)
    async with runtime.pool.acquire() as connection:
        await enqueue(
            connection, runtime.bus.topology.pipeline_exchange, TRACKER_ACCEPTED_KEY, message
        )


async def taken_from_tracker_queue(url: str, queue_name: str, count: int) -> list[int]:
    """The submission ids of `count` messages taken off the tracker's queue."""
    connection = await aio_pika.connect(url)
    taken: list[int] = []
    async with connection:
        queue = await (await connection.channel()).declare_queue(queue_name, passive=True)

        async def enough() -> bool:
            message = await queue.get(fail=False, no_ack=True)
            if message is not None:
                taken.append(aio_pika_submission(message.body))
            return len(taken) >= count

        await eventually(enough, timeout_s=60)
    return taken


async def taken_until(url: str, queue_name: str, submission_id: int) -> list[int]:
    """The submission ids taken off the queue, up to and with `submission_id`."""
    connection = await aio_pika.connect(url)
    taken: list[int] = []
    async with connection:
        queue = await (await connection.channel()).declare_queue(queue_name, passive=True)

        async def arrived() -> bool:
            message = await queue.get(fail=False, no_ack=True)
            if message is not None:
                taken.append(aio_pika_submission(message.body))
            return submission_id in taken

        await eventually(arrived, timeout_s=60)
    return taken


def aio_pika_submission(body: bytes) -> int:
    from contracts.messages import Envelope

    return Envelope.model_validate_json(body).submission_id


@pytest.fixture
def postgres() -> OwnPostgres:
    with own_postgres() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def rabbitmq() -> OwnRabbitMQ:
    with own_rabbitmq() as server:
        yield server  # type: ignore[misc]


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_the_relay_sends_again_after_its_database_restarts(
    isolation: Isolation, postgres: OwnPostgres, mode: str
) -> None:
    async with opened(settings_for(isolation, DATABASE_URL=postgres.dsn)) as runtime:
        tracker_queue = runtime.bus.topology.queue("tracker")
        await write_outbox(runtime, 1)
        assert await taken_from_tracker_queue(runtime.bus.url, tracker_queue, 1) == [1]

        await asyncio.to_thread(postgres.stop, mode)
        await asyncio.to_thread(postgres.start)

        async def written() -> bool:
            with contextlib.suppress(Exception):  # the pool's old connections are broken
                await write_outbox(runtime, 2)
                return True
            return False

        await eventually(written, timeout_s=60)
        taken = await taken_until(runtime.bus.url, tracker_queue, 2)
        # At least once: a restart between the publish of 1 and the commit that deletes
        # its row sends 1 again (the inbox absorbs it downstream); 2 is never lost.
        assert taken[-1] == 2
        assert set(taken) <= {1, 2}


async def test_what_was_written_while_the_broker_was_down_is_sent_once_it_is_back(
    isolation: Isolation, rabbitmq: OwnRabbitMQ
) -> None:
    """Replaces a stub raising ConnectionError with the real thing: the broker stops
    (its connections are lost), rows are written, the broker starts again."""
    async with opened(settings_for(isolation, AMQP_URL=rabbitmq.url)) as runtime:
        tracker_queue = runtime.bus.topology.queue("tracker")
        await asyncio.to_thread(rabbitmq.stop)
        await write_outbox(runtime, 1)
        await write_outbox(runtime, 2)

        async def pending() -> bool:  # the relay tried and kept them
            return await runtime.pool.fetchval("SELECT count(*) FROM outbox") == 2

        await eventually(pending)
        await asyncio.to_thread(rabbitmq.start)

        assert sorted(await taken_from_tracker_queue(rabbitmq.url, tracker_queue, 2)) == [1, 2]
        assert await runtime.pool.fetchval("SELECT count(*) FROM outbox") == 0
