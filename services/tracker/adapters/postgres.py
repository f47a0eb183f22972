"""The tracker's PostgreSQL store: step events are append-only and unique per
(submission, attempt, step); the attempt row is locked while its state is decided."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from contracts.messages import Envelope, StepResult, Submitter
from contracts.steps import PipelineStatus, StepName
from services.tracker.logic import AttemptState, FinalRecord
from shared.db import Connection
from shared.db.outbox import enqueue


class PostgresAttemptTx:
    def __init__(self, connection: Connection, submission_id: int, attempt: int) -> None:
        self.connection = connection
        self.key = (submission_id, attempt)

    async def lock(self) -> asyncpg.Record:
        row = await self.connection.fetchrow(
            "SELECT a.plan, a.finished_at, s.language, s.locale, s.external_user_id,"
            " s.username, a.config_id, c.external_assignment_id,"
            " c.body->>'export_webhook_url' AS export_url FROM attempts a"
            " JOIN submissions s ON s.id = a.submission_id"
            " JOIN grading_configs c ON c.id = a.config_id"
            " WHERE a.submission_id = $1 AND a.attempt = $2 FOR UPDATE OF a",
            *self.key,
        )
        if row is None:
            raise LookupError(f"no attempt {self.key}")
        return row

    async def record(self, result: StepResult, message_id: str) -> bool:
        inserted = await self.connection.fetchval(
            "INSERT INTO step_events (submission_id, attempt, step, status, message,"
            " error_details, output, started_at, finished_at, message_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            " ON CONFLICT (submission_id, attempt, step) DO NOTHING RETURNING id",
            *self.key,
            result.step.value,
            result.status.value,
            result.message,
            None if result.error_details is None else result.error_details.model_dump(mode="json"),
            result.output,
            result.started_at,
            result.finished_at,
            message_id,
        )
        await self.connection.execute(
            # current_step only moves forward: results are recorded concurrently.
            "UPDATE attempts SET last_event_at = now(), current_step = CASE"
            " WHEN current_step IS NULL OR (SELECT o FROM jsonb_array_elements_text(plan)"
            " WITH ORDINALITY AS e(s, o) WHERE s = $3) > (SELECT o FROM"
            " jsonb_array_elements_text(plan) WITH ORDINALITY AS e(s, o) WHERE s = current_step)"
            " THEN $3 ELSE current_step END,"
            " status = CASE WHEN status = 'queued' THEN 'running' ELSE status END"
            " WHERE submission_id = $1 AND attempt = $2 AND finished_at IS NULL",
            *self.key,
            result.step.value,
        )
        return inserted is not None

    async def state(self) -> AttemptState:
        attempt = await self.lock()
        rows = await self.connection.fetch(
            "SELECT step, status, message, error_details, output, started_at, finished_at"
            " FROM step_events WHERE submission_id = $1 AND attempt = $2 ORDER BY id",
            *self.key,
        )
        plan = [StepName(step) for step in attempt["plan"]]
        results = [StepResult.model_validate({**dict(row), "plan": plan}) for row in rows]
        return AttemptState(
            plan=plan,
            results=results,
            finished=attempt["finished_at"] is not None,
            language=attempt["language"],
            locale=attempt["locale"],
            submitter=Submitter(
                external_assignment_id=attempt["external_assignment_id"],
                grading_config_id=attempt["config_id"],
                external_user_id=attempt["external_user_id"],
            ),
            username=attempt["username"],
            export_url=attempt["export_url"],
        )

    async def finish(self, record: FinalRecord) -> None:
        await self.connection.execute(
            "INSERT INTO results (submission_id, attempt, status, final_score, result_tree,"
            " feedback, pipeline_execution) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (submission_id, attempt) DO NOTHING",
            *self.key,
            record.status.value,
            record.final_score,
            record.result_tree,
            record.feedback,
            record.pipeline_execution,
        )
        await self.connection.execute(
            "UPDATE attempts SET status = $3, finished_at = now(), last_event_at = now()"
            " WHERE submission_id = $1 AND attempt = $2",
            *self.key,
            record.status.value,
        )
        # A step still claimed (one that crashed, or was interrupted) works for nobody now.
        await self.connection.execute(
            "DELETE FROM step_claims WHERE submission_id = $1 AND attempt = $2", *self.key
        )

    async def enqueue(self, exchange: str, routing_key: str, message: Envelope) -> None:
        """Into the outbox, in this transaction; the relay publishes it after the commit."""
        await enqueue(self.connection, exchange, routing_key, message)

    async def start_export(self, url: str) -> None:
        """The delivery's record, pending until the export service reports."""
        await self.connection.execute(
            "INSERT INTO exports (submission_id, attempt, url) VALUES ($1, $2, $3)"
            " ON CONFLICT (submission_id, attempt) DO NOTHING",
            *self.key,
            url,
        )

    async def finished_status(self) -> PipelineStatus | None:
        status = await self.connection.fetchval(
            "SELECT pipeline_execution->>'status' FROM results"
            " WHERE submission_id = $1 AND attempt = $2",
            *self.key,
        )
        return None if status is None else PipelineStatus(status)

    async def set_execution(self, pipeline_execution: dict[str, Any]) -> None:
        await self.connection.execute(
            "UPDATE results SET pipeline_execution = $3, updated_at = now()"
            " WHERE submission_id = $1 AND attempt = $2",
            *self.key,
            pipeline_execution,
        )

    async def set_feedback_if_missing(self, feedback: str) -> None:
        await self.connection.execute(
            "UPDATE results SET feedback = $3, updated_at = now()"
            " WHERE submission_id = $1 AND attempt = $2 AND feedback IS NULL",
            *self.key,
            feedback,
        )


class PostgresAttemptStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def attempt(self, submission_id: int, attempt: int) -> AsyncIterator[PostgresAttemptTx]:
        async with self.pool.acquire() as connection, connection.transaction():
            tx = PostgresAttemptTx(connection, submission_id, attempt)
            await tx.lock()
            yield tx

    async def open_before(self, submission_id: int, attempt: int) -> list[int]:
        """The submission's attempts before `attempt` that have not ended."""
        rows = await self.pool.fetch(
            "SELECT attempt FROM attempts WHERE submission_id = $1 AND attempt < $2"
            " AND finished_at IS NULL ORDER BY attempt",
            submission_id,
            attempt,
        )
        return [row["attempt"] for row in rows]

    async def stuck(self, older_than_s: float, abandoned_after_s: float) -> list[tuple[int, int]]:
        """Open attempts whose running step stopped beating. Waiting in a queue or for a
        sandbox holds no claim, or a claim that beats: neither is stuck. The last resort:
        an attempt with no claim and no event for `abandoned_after_s` (hours: a message
        parked for a person who never came, a give-up that could not send)."""
        rows = await self.pool.fetch(
            "SELECT DISTINCT a.submission_id, a.attempt FROM attempts a"
            " LEFT JOIN step_claims c USING (submission_id, attempt)"
            " WHERE a.finished_at IS NULL AND ("
            "  c.heartbeat_at < now() - make_interval(secs => $1)"
            "  OR (c.submission_id IS NULL"
            "      AND a.last_event_at < now() - make_interval(secs => $2)))",
            older_than_s,
            abandoned_after_s,
        )
        return [(row["submission_id"], row["attempt"]) for row in rows]
