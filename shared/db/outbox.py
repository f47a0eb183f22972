"""The transactional outbox: intake writes messages in the same transaction as the
submission, and a relay publishes them with confirms afterwards.

A broker outage therefore delays an accepted submission but never loses it. The relay
wakes on NOTIFY and also polls, so it catches rows written while it was down.
"""

import asyncio
import contextlib

import asyncpg
import structlog

from contracts.messages import Envelope
from shared.db import Connection
from shared.messaging.bus import Bus

log = structlog.get_logger()
CHANNEL = "outbox_new"


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


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, bus: Bus, *, poll_interval_s: float = 1.0) -> None:
        self.pool = pool
        self.bus = bus
        self.poll_interval_s = poll_interval_s
        self._wakeup = asyncio.Event()

    async def run(self) -> None:
        listener = await self.pool.acquire()
        await listener.add_listener(CHANNEL, self._on_notify)
        try:
            while True:
                await self._drain_logging_errors()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_interval_s)
                self._wakeup.clear()
        finally:
            await listener.remove_listener(CHANNEL, self._on_notify)
            await self.pool.release(listener)

    def _on_notify(self, *_: object) -> None:
        self._wakeup.set()

    async def _drain_logging_errors(self) -> None:
        try:
            while await self.publish_batch():
                pass
        except Exception as error:  # the broker or database is down: retry on next tick
            log.warning("outbox relay paused", error=repr(error))

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
            await connection.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
        return len(rows)
