"""Remembers which messages a consumer fully handled, so redeliveries change nothing,
and which step it is working on now, so a stall can be told from a queue.

- A step's outcome is recorded once: its mark and the messages it sends (through the
  outbox) commit together, and a second recording of the same step attempt (a
  redelivery, a give-up racing a success, another replica) sends nothing.
- Other handlers mark after their outputs were confirmed; a crash between the two
  means the work is redone and its duplicate outputs are absorbed downstream.
- Copies delivered at the same time to one process are serialised by a lock per key,
  so the second sees the first's mark (docs/adr/0002-idempotency.md).
- While a step runs, its claim row is kept alive by heartbeats; the tracker's sweep
  ends only attempts whose claim's heartbeats stopped.
"""

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence

import asyncpg
import structlog

from contracts.messages import Envelope
from shared.db.outbox import Outgoing, enqueue_all

log = structlog.get_logger()


def idempotency_key(envelope: Envelope) -> str:
    step = envelope.step.value if envelope.step else "-"
    key = f"{envelope.type}:{envelope.submission_id}:{envelope.attempt}:{step}"
    return key if envelope.work_key is None else f"{key}:{envelope.work_key}"


class Inbox:
    def __init__(self, pool: asyncpg.Pool, consumer: str, *, heartbeat_s: float = 10.0) -> None:
        self.pool = pool
        self.consumer = consumer
        self.heartbeat_s = heartbeat_s
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

    async def record_once(self, envelope: Envelope, outputs: Sequence[Outgoing]) -> bool:
        """Mark `envelope` handled and queue its outputs in one transaction, and end the
        step's claim; False (nothing queued) when it was already recorded."""
        async with self.pool.acquire() as connection, connection.transaction():
            # Ended either way: a duplicate run that lost the race must not leave it.
            await connection.execute(
                "DELETE FROM step_claims WHERE submission_id = $1 AND attempt = $2 AND step = $3",
                *_step_of(envelope),
            )
            first = await connection.fetchval(
                "INSERT INTO processed_messages (consumer, key) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING RETURNING true",
                self.consumer,
                idempotency_key(envelope),
            )
            if first:
                await enqueue_all(connection, outputs)
        return bool(first)

    @contextlib.asynccontextmanager
    async def working_on(self, envelope: Envelope) -> AsyncIterator[None]:
        """Claim the envelope's step for this run and keep the claim alive while the body
        runs; a run that fails gives its claim up (its retry waits in a queue, which is
        not a stall)."""
        owner = uuid.uuid4().hex
        await self._claim(envelope, owner)
        heartbeats = asyncio.create_task(self._beat_forever(envelope, owner))
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                await self._unclaim(envelope, owner)
            raise
        finally:
            heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeats

    async def _beat_forever(self, envelope: Envelope, owner: str) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self._beat(envelope, owner)
            except Exception as error:  # the database is down: try again next beat
                log.warning("step heartbeat failed", error=repr(error))

    async def _claim(self, envelope: Envelope, owner: str) -> None:
        await self.pool.execute(
            "INSERT INTO step_claims (submission_id, attempt, step, consumer, owner)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (submission_id, attempt, step)"
            " DO UPDATE SET heartbeat_at = now(), claimed_at = now(),"
            " consumer = EXCLUDED.consumer, owner = EXCLUDED.owner",
            *_step_of(envelope),
            self.consumer,
            owner,
        )

    async def _beat(self, envelope: Envelope, owner: str) -> None:
        """Only this run's claim: once it was ended (or taken over) nothing comes back."""
        await self.pool.execute(
            "UPDATE step_claims SET heartbeat_at = now() WHERE submission_id = $1"
            " AND attempt = $2 AND step = $3 AND owner = $4",
            *_step_of(envelope),
            owner,
        )

    async def _unclaim(self, envelope: Envelope, owner: str) -> None:
        await self.pool.execute(
            "DELETE FROM step_claims WHERE submission_id = $1 AND attempt = $2 AND step = $3"
            " AND owner = $4",
            *_step_of(envelope),
            owner,
        )


def _step_of(envelope: Envelope) -> tuple[int, int, str]:
    step = envelope.step.value if envelope.step else "-"
    return envelope.submission_id, envelope.attempt, step
