"""The transactional outbox: a service writes the messages it sends in the same
transaction as the state they follow from (intake's submission, a step's recorded
outcome, the tracker's final record), and a relay publishes them with confirms.

A broker outage therefore delays what was decided but never loses it, and what was
decided is sent once. Every process runs one relay; relays share the table (SKIP
LOCKED). A relay wakes on NOTIFY and also polls, so it catches rows written while it
was down or while its listening connection was lost.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from contracts.messages import Envelope
from shared.db import Connection
from shared.messaging.bus import Bus

log = structlog.get_logger()
CHANNEL = "outbox_new"
Listener = PoolConnectionProxy | None


async def enqueue(
    connection: Connection, exchange: str, routing_key: str, envelope: Envelope
) -> None:
    await connection.execute(
        "INSERT INTO outbox (exchange, routing_key, body) VALUES ($1, $2, $3)",
        exchange,
        routing_key,
        envelope.model_dump_json().encode(),
    )
    await connection.execute(f"NOTIFY {CHANNEL}")


@dataclass(frozen=True)
class Outgoing:
    """A message to send once the transaction that decided it commits."""

    exchange: str
    routing_key: str
    envelope: Envelope


async def enqueue_all(connection: Connection, messages: Sequence[Outgoing]) -> None:
    for message in messages:
        await enqueue(connection, message.exchange, message.routing_key, message.envelope)


def _alive(connection: PoolConnectionProxy) -> bool:
    """Whether a listening connection still works; after a database restart the pool
    takes a broken one back, and the proxy then refuses every call."""
    try:
        return not connection.is_closed()
    except asyncpg.InterfaceError:
        return False


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, bus: Bus, *, poll_interval_s: float = 1.0) -> None:
        self.pool = pool
        self.bus = bus
        self.poll_interval_s = poll_interval_s
        self._wakeup = asyncio.Event()

    async def run(self) -> None:
        """Forever: nothing the broker or the database does may end the relay."""
        listener: Listener = None
        try:
            while True:
                try:
                    listener = await self._listening(listener)
                    await self._drain()
                except Exception as error:  # the broker or database is down: next tick
                    log.warning("outbox relay paused", error=repr(error))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_interval_s)
                self._wakeup.clear()
        finally:
            await self._release(listener)

    async def _listening(self, listener: Listener) -> Listener:
        """A connection that LISTENs, taken again after the database was restarted; until
        then the relay only polls."""
        if listener is not None and _alive(listener):
            return listener
        await self._release(listener)
        self._wakeup.set()  # rows may have been written while nobody listened
        connection: Listener = None
        try:
            connection = await self.pool.acquire()
            await connection.add_listener(CHANNEL, self._on_notify)
        except Exception as error:
            log.warning("outbox relay cannot listen yet", error=repr(error))
            await self._release(connection)
            return None
        return connection

    async def _release(self, listener: Listener) -> None:
        if listener is None:
            return
        # A lost connection is simply dropped: the pool may even have taken it back.
        with contextlib.suppress(Exception):
            await listener.remove_listener(CHANNEL, self._on_notify)
        with contextlib.suppress(Exception):
            await self.pool.release(listener)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _drain(self) -> None:
        while await self.publish_batch():
            pass

    async def publish_batch(self, limit: int = 100) -> int:
        """Publish the oldest pending rows in order; returns how many were published."""
        async with self.pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                "SELECT id, exchange, routing_key, body FROM outbox WHERE published_at IS NULL"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                limit,
            )
            for row in rows:
                await self.bus.publish_raw(row["exchange"], row["routing_key"], bytes(row["body"]))
            # Sent rows are deleted: the table holds only what is still to send.
            await connection.execute(
                "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [row["id"] for row in rows]
            )
        return len(rows)
