"""Remembers which messages a consumer fully handled, so redeliveries change nothing.

A key is recorded only after the handler's outputs were confirmed; a crash between
the two means the work is redone and its duplicate outputs are absorbed downstream
(the tracker's unique step events, the sandbox's lease per owner). Copies delivered
at the same time to one process are serialised by a lock per key, so the second
sees the first's mark (docs/adr/0002-idempotency.md says what remains across replicas).
"""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg

from contracts.messages import Envelope


def idempotency_key(envelope: Envelope) -> str:
    step = envelope.step.value if envelope.step else "-"
    key = f"{envelope.type}:{envelope.submission_id}:{envelope.attempt}:{step}"
    return key if envelope.work_key is None else f"{key}:{envelope.work_key}"


class Inbox:
    def __init__(self, pool: asyncpg.Pool, consumer: str) -> None:
        self.pool = pool
        self.consumer = consumer
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def exclusive(self, envelope: Envelope) -> AsyncIterator[None]:
        key = idempotency_key(envelope)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:  # the last holder forgets the key
                del self._users[key], self._locks[key]

    async def seen(self, envelope: Envelope) -> bool:
        row = await self.pool.fetchval(
            "SELECT 1 FROM processed_messages WHERE consumer = $1 AND key = $2",
            self.consumer,
            idempotency_key(envelope),
        )
        return row is not None

    async def attempt_finished(self, envelope: Envelope) -> bool:
        """Whether the tracker already ended this attempt (e.g. interrupted it): its
        queued steps must not run, nor lease a sandbox nobody would release."""
        finished = await self.pool.fetchval(
            "SELECT finished_at IS NOT NULL FROM attempts"
            " WHERE submission_id = $1 AND attempt = $2",
            envelope.submission_id,
            envelope.attempt,
        )
        return bool(finished)

    async def mark(self, envelope: Envelope) -> None:
        await self.pool.execute(
            "INSERT INTO processed_messages (consumer, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            self.consumer,
            idempotency_key(envelope),
        )
