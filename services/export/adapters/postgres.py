"""The delivery state of each finished attempt's export (table `exports`)."""

import asyncpg


class PostgresExportStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def is_current(self, submission_id: int, attempt: int, round_: int) -> bool:
        """Whether this round is the delivery's latest (a person may have started one)."""
        current = await self.pool.fetchval(
            "SELECT round FROM exports WHERE submission_id = $1 AND attempt = $2",
            submission_id,
            attempt,
        )
        return bool(current == round_)

    async def delivered(self, submission_id: int, attempt: int, round_: int) -> None:
        await self._tried(submission_id, attempt, round_, "delivered", None)

    async def retrying(self, submission_id: int, attempt: int, round_: int, error: str) -> None:
        await self._tried(submission_id, attempt, round_, "pending", error)

    async def failed(self, submission_id: int, attempt: int, round_: int, error: str) -> None:
        await self._tried(submission_id, attempt, round_, "failed", error)

    async def _tried(
        self, submission_id: int, attempt: int, round_: int, status: str, error: str | None
    ) -> None:
        """One more try, and where the delivery stands after it."""
        await self.pool.execute(
            "UPDATE exports SET status = $3, attempts = attempts + 1, last_error = $4,"
            " updated_at = now(),"
            " delivered_at = CASE WHEN $3 = 'delivered' THEN now() ELSE delivered_at END"
            " WHERE submission_id = $1 AND attempt = $2 AND round = $5",
            submission_id,
            attempt,
            status,
            error,
            round_,
        )
