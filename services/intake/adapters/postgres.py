"""Intake's PostgreSQL access: configs (versioned, never edited in place), accepting a
submission in one transaction with its files and outbox messages, and the read view."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from contracts.api import ExternalResultIn
from contracts.config import GradingConfig, GradingConfigIn
from contracts.messages import Envelope, StepResult
from contracts.sandbox import Manifest
from contracts.steps import PipelineStatus, StepName
from services.intake.adapters.runner_jobs import NewJob, add_job, stop_older_jobs
from shared.db import Connection
from shared.db.blobs import PostgresBlobStore
from shared.db.outbox import enqueue
from shared.execution import pipeline_execution, public_json

Outgoing = list[tuple[str, str, Envelope]]  # (exchange, routing key, envelope)


@dataclass(frozen=True)
class NewSubmission:
    config: GradingConfig
    external_user_id: str
    username: str
    language: str
    locale: str
    files: dict[str, bytes]
    plan: list[StepName]
    created_by: int | None = None  # the token that submitted it
    attempt: int = 1  # a regrade is a later attempt of the same submission
    metadata: dict[str, Any] | None = None  # where it came from (a push: repository, commit)


@dataclass(frozen=True)
class SubmissionQuery:
    """Which submissions to list; None filters nothing."""

    limit: int
    offset: int = 0
    external_assignment_id: str | None = None
    external_user_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    before_id: int | None = None  # the cursor: ids below the last one seen
    assignments: list[str] | None = None  # an instructor's grants
    created_by: int | None = None  # an integration's own


class IntakeRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.blobs = PostgresBlobStore(pool)

    async def answers(self, timeout_s: float = 2) -> bool:
        """Whether the database answers a query now."""
        try:
            return bool(await self.pool.fetchval("SELECT true", timeout=timeout_s))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False

    async def create_config(self, config: GradingConfigIn) -> GradingConfig:
        body = config.model_dump(mode="json")
        row = await self.pool.fetchrow(
            "INSERT INTO grading_configs (external_assignment_id, version, body)"
            " SELECT $1, coalesce(max(version), 0) + 1, $2 FROM grading_configs"
            " WHERE external_assignment_id = $1 RETURNING id, version",
            config.external_assignment_id,
            body,
        )
        assert row is not None  # INSERT ... RETURNING always returns its row
        return GradingConfig(**body, id=row["id"], version=row["version"])

    async def get_config(self, config_id: int) -> GradingConfig | None:
        row = await self.pool.fetchrow(
            "SELECT id, version, body FROM grading_configs WHERE id = $1", config_id
        )
        if row is None:
            return None
        return GradingConfig(**row["body"], id=row["id"], version=row["version"])

    async def latest_config(self, external_assignment_id: str) -> GradingConfig | None:
        row = await self.pool.fetchrow(
            "SELECT id, version, body FROM grading_configs WHERE external_assignment_id = $1"
            " ORDER BY version DESC LIMIT 1",
            external_assignment_id,
        )
        return (
            None
            if row is None
            else GradingConfig(**row["body"], id=row["id"], version=row["version"])
        )

    async def config_versions(self, external_assignment_id: str) -> list[GradingConfig]:
        rows = await self.pool.fetch(
            "SELECT id, version, body FROM grading_configs WHERE external_assignment_id = $1"
            " ORDER BY version",
            external_assignment_id,
        )
        return [GradingConfig(**r["body"], id=r["id"], version=r["version"]) for r in rows]

    async def latest_configs(
        self, limit: int, offset: int, only: frozenset[str] | None
    ) -> list[GradingConfig]:
        """The newest version of each assignment (of `only` ones, when given), by name."""
        rows = await self.pool.fetch(
            "SELECT DISTINCT ON (external_assignment_id) id, version, body"
            " FROM grading_configs WHERE $3::text[] IS NULL OR external_assignment_id = ANY($3)"
            " ORDER BY external_assignment_id, version DESC LIMIT $1 OFFSET $2",
            limit,
            offset,
            None if only is None else sorted(only),
        )
        return [GradingConfig(**r["body"], id=r["id"], version=r["version"]) for r in rows]

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator["IntakeUnitOfWork"]:
        """One transaction: everything written through it lands together, or nothing does."""
        async with self.pool.acquire() as connection, connection.transaction():
            yield IntakeUnitOfWork(connection, self.blobs)

    async def configs_for_pushes(self) -> list[GradingConfig]:
        """The newest version of every assignment that takes GitHub pushes."""
        rows = await self.pool.fetch(
            "SELECT DISTINCT ON (external_assignment_id) id, version, body"
            " FROM grading_configs ORDER BY external_assignment_id, version DESC"
        )
        configs = [GradingConfig(**r["body"], id=r["id"], version=r["version"]) for r in rows]
        return [config for config in configs if config.github is not None]

    async def delivered_submission(self, source: str, delivery_id: str) -> int | None:
        found = await self.pool.fetchval(
            "SELECT submission_id FROM webhook_deliveries WHERE source = $1 AND delivery_id = $2",
            source,
            delivery_id,
        )
        return None if found is None else int(found)

    async def keyed_submission(self, token_id: int, key: str) -> tuple[int, str] | None:
        """The submission a live Idempotency-Key answered with, and its request hash."""
        row = await self.pool.fetchrow(
            "SELECT submission_id, request_hash FROM idempotency_keys"
            " WHERE token_id = $1 AND key = $2 AND created_at >= now() - interval '24 hours'",
            token_id,
            key,
        )
        return None if row is None else (row["submission_id"], row["request_hash"])

    async def submissions(self, query: "SubmissionQuery") -> list[dict[str, Any]]:
        """Newest first, the latest attempt of each, filtered as asked."""
        rows = await self.pool.fetch(
            "SELECT s.id, s.grading_config_id, c.external_assignment_id, s.external_user_id,"
            " s.username, s.language, s.created_at, a.attempt, a.status, r.final_score"
            " FROM submissions s JOIN grading_configs c ON c.id = s.grading_config_id"
            " JOIN LATERAL (SELECT attempt, status FROM attempts WHERE submission_id = s.id"
            "   ORDER BY attempt DESC LIMIT 1) a ON true"
            " LEFT JOIN results r ON r.submission_id = s.id AND r.attempt = a.attempt"
            " WHERE ($1::text IS NULL OR c.external_assignment_id = $1)"
            " AND ($2::text IS NULL OR s.external_user_id = $2)"
            " AND ($3::text IS NULL OR a.status = $3)"
            " AND ($4::timestamptz IS NULL OR s.created_at >= $4)"
            " AND ($5::bigint IS NULL OR s.id < $5)"
            " AND ($6::text[] IS NULL OR c.external_assignment_id = ANY($6))"
            " AND ($7::bigint IS NULL OR s.created_by = $7)"
            " ORDER BY s.id DESC LIMIT $8 OFFSET $9",
            query.external_assignment_id,
            query.external_user_id,
            query.status,
            query.since,
            query.before_id,
            query.assignments,
            query.created_by,
            query.limit,
            query.offset,
        )
        return [dict(row) for row in rows]

    async def new_batch(
        self, config: GradingConfig, use_latest: bool, created_by: int
    ) -> tuple[int, int]:
        """A bulk regrade of the latest submission of every student of the config's
        assignment, waiting in the lane; returns (batch id, how many submissions)."""
        async with self.pool.acquire() as connection, connection.transaction():
            batch_id = await connection.fetchval(
                "INSERT INTO regrade_batches (config_id, use_latest, created_by)"
                " VALUES ($1, $2, $3) RETURNING id",
                config.id,
                use_latest,
                created_by,
            )
            count = await connection.fetchval(
                "WITH latest AS (SELECT DISTINCT ON (s.external_user_id) s.id"
                "  FROM submissions s JOIN grading_configs c ON c.id = s.grading_config_id"
                "  WHERE c.external_assignment_id = $2 AND s.manifest <> '{}'::jsonb"
                "  ORDER BY s.external_user_id, s.id DESC)"
                " , added AS (INSERT INTO regrade_items (batch_id, submission_id)"
                "  SELECT $1, id FROM latest RETURNING 1) SELECT count(*) FROM added",
                batch_id,
                config.external_assignment_id,
            )
        return int(batch_id), int(count)

    async def attempts_in_flight(self) -> int:
        return int(
            await self.pool.fetchval("SELECT count(*) FROM attempts WHERE finished_at IS NULL")
        )

    async def batch_progress(self, batch_id: int) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            "SELECT b.id, c.external_assignment_id, count(i.submission_id) AS total,"
            " count(*) FILTER (WHERE i.attempt IS NULL) AS waiting,"
            " count(*) FILTER (WHERE a.finished_at IS NULL AND i.attempt IS NOT NULL) AS queued,"
            " count(*) FILTER (WHERE a.status = 'completed') AS done,"
            " count(*) FILTER (WHERE a.status IN ('failed', 'superseded', 'cancelled')) AS failed"
            " FROM regrade_batches b JOIN grading_configs c ON c.id = b.config_id"
            " LEFT JOIN regrade_items i ON i.batch_id = b.id"
            " LEFT JOIN attempts a ON a.submission_id = i.submission_id AND a.attempt = i.attempt"
            " WHERE b.id = $1 GROUP BY b.id, c.external_assignment_id",
            batch_id,
        )
        return None if row is None else dict(row)

    async def attempts(self, submission_id: int) -> list[dict[str, Any]]:
        """Every attempt of a submission, oldest first, each with its own record."""
        rows = await self.pool.fetch(
            "SELECT a.attempt, a.config_id, c.version AS config_version, a.status,"
            " a.accepted_at, a.finished_at, r.final_score, r.feedback, r.result_tree,"
            " r.pipeline_execution FROM attempts a"
            " JOIN grading_configs c ON c.id = a.config_id"
            " LEFT JOIN results r ON r.submission_id = a.submission_id AND r.attempt = a.attempt"
            " WHERE a.submission_id = $1 ORDER BY a.attempt",
            submission_id,
        )
        return [dict(row) for row in rows]

    async def regrade_basis(self, submission_id: int) -> dict[str, Any] | None:
        """What a regrade needs of a submission: its assignment and latest attempt's config."""
        row = await self.pool.fetchrow(
            "SELECT c.external_assignment_id, a.config_id AS attempt_config_id"
            " FROM attempts a JOIN grading_configs c ON c.id = a.config_id"
            " WHERE a.submission_id = $1 ORDER BY a.attempt DESC LIMIT 1",
            submission_id,
        )
        return None if row is None else dict(row)

    async def submission_view(self, submission_id: int) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            "SELECT s.id, s.grading_config_id, s.external_user_id, s.username, s.language,"
            " s.created_at, s.created_by, s.submission_metadata, a.attempt, a.status, a.plan,"
            " a.config_id AS attempt_config_id,"
            " r.final_score,"
            " r.result_tree, r.feedback, r.pipeline_execution, c.external_assignment_id,"
            " e.url AS export_url,"
            " e.status AS export_status, e.attempts AS export_attempts,"
            " e.last_error AS export_last_error, e.updated_at AS export_updated_at,"
            " e.delivered_at AS export_delivered_at FROM submissions s"
            " JOIN attempts a ON a.submission_id = s.id"
            " JOIN grading_configs c ON c.id = a.config_id"
            " LEFT JOIN results r ON r.submission_id = a.submission_id AND r.attempt = a.attempt"
            " LEFT JOIN exports e ON e.submission_id = a.submission_id AND e.attempt = a.attempt"
            " WHERE s.id = $1 ORDER BY a.attempt DESC LIMIT 1",
            submission_id,
        )
        if row is None:
            return None
        view = dict(row)
        view["export"] = _export_of(view)
        if view["pipeline_execution"] is None:
            view["pipeline_execution"] = await self._in_progress(view)
        return view

    async def _in_progress(self, view: dict[str, Any]) -> dict[str, Any]:
        plan = [StepName(step) for step in view["plan"]]
        rows = await self.pool.fetch(
            "SELECT step, status, message, error_details, output, started_at, finished_at"
            " FROM step_events WHERE submission_id = $1 AND attempt = $2",
            view["id"],
            view["attempt"],
        )
        results = [StepResult.model_validate({**dict(r), "plan": plan}) for r in rows]
        started = min([view["created_at"], *(r.started_at for r in results)])
        running = pipeline_execution(plan, results, PipelineStatus.RUNNING, running_since=started)
        return public_json(running)


def _export_of(view: dict[str, Any]) -> dict[str, Any] | None:
    if view["export_status"] is None:
        return None
    fields = ("status", "attempts", "last_error", "updated_at", "delivered_at")
    return {name: view[f"export_{name}"] for name in fields}


class IntakeUnitOfWork:
    """What accepting a submission writes: its files, its row and attempt 1, its messages."""

    def __init__(self, connection: Connection, blobs: PostgresBlobStore) -> None:
        self.connection = connection
        self.blobs = blobs

    async def put_files(self, files: dict[str, bytes]) -> Manifest:
        return await self.blobs.put_many(files, self.connection)

    async def add_submission(self, new: NewSubmission, manifest: Manifest) -> int:
        submission_id = await self.connection.fetchval(
            "INSERT INTO submissions (grading_config_id, external_user_id, username,"
            " language, locale, manifest, created_by, submission_metadata)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            new.config.id,
            new.external_user_id,
            new.username,
            new.language,
            new.locale,
            {path: ref.model_dump() for path, ref in manifest.items()},
            new.created_by,
            new.metadata,
        )
        await self.connection.execute(
            "INSERT INTO attempts (submission_id, attempt, config_id, plan) VALUES ($1, 1, $2, $3)",
            submission_id,
            new.config.id,
            [step.value for step in new.plan],
        )
        return int(submission_id)

    async def add_external_result(
        self, result: "ExternalResultIn", record: dict[str, Any], created_by: int
    ) -> int:
        """A submission graded elsewhere: stored already finished, attempt 1 and its
        results; no files, no steps run here."""
        submission_id = await self.connection.fetchval(
            "INSERT INTO submissions (grading_config_id, external_user_id, username, language,"
            " manifest, created_by, submission_metadata) VALUES ($1, $2, $3, $4, '{}', $5, $6)"
            " RETURNING id",
            result.grading_config_id,
            result.external_user_id,
            result.username,
            result.language,
            created_by,
            result.submission_metadata,
        )
        await self.connection.execute(
            "INSERT INTO attempts (submission_id, attempt, config_id, plan, status, finished_at)"
            " VALUES ($1, 1, $2, '[]', $3, now())",
            submission_id,
            result.grading_config_id,
            result.status,
        )
        tree = None if result.result_tree is None else result.result_tree.model_dump(mode="json")
        await self.connection.execute(
            "INSERT INTO results (submission_id, attempt, status, final_score, result_tree,"
            " feedback, pipeline_execution) VALUES ($1, 1, $2, $3, $4, $5, $6)",
            submission_id,
            result.status,
            result.final_score,
            tree,
            result.feedback if result.feedback is not None else result.error_message,
            record,
        )
        return int(submission_id)

    async def latest_attempt(self, submission_id: int) -> dict[str, Any]:
        """The submission (locked until this transaction ends, so regrades of it come one
        at a time) with its latest attempt."""
        row = await self.connection.fetchrow(
            "SELECT s.id, s.external_user_id, s.username, s.language, s.locale, s.manifest,"
            " s.created_by, a.attempt, a.config_id, a.plan, a.requested, a.accepted_at"
            " FROM submissions s JOIN attempts a ON a.submission_id = s.id"
            " WHERE s.id = $1 ORDER BY a.attempt DESC LIMIT 1 FOR UPDATE OF s",
            submission_id,
        )
        assert row is not None  # the caller has just read this submission
        return dict(row)

    async def take_waiting_item(self) -> dict[str, Any] | None:
        """The oldest submission waiting in the bulk-regrade lane, locked until this
        transaction ends (another intake takes the next one)."""
        row = await self.connection.fetchrow(
            "SELECT i.batch_id, i.submission_id, b.use_latest FROM regrade_items i"
            " JOIN regrade_batches b ON b.id = i.batch_id WHERE i.attempt IS NULL"
            " ORDER BY i.batch_id, i.submission_id LIMIT 1 FOR UPDATE OF i SKIP LOCKED"
        )
        return None if row is None else dict(row)

    async def set_item_attempt(self, batch_id: int, submission_id: int, attempt: int) -> None:
        await self.connection.execute(
            "UPDATE regrade_items SET attempt = $3 WHERE batch_id = $1 AND submission_id = $2",
            batch_id,
            submission_id,
            attempt,
        )

    async def add_attempt(self, new: NewSubmission, submission_id: int, requested: str) -> None:
        await self.connection.execute(
            "INSERT INTO attempts (submission_id, attempt, config_id, plan, requested)"
            " VALUES ($1, $2, $3, $4, $5)",
            submission_id,
            new.attempt,
            new.config.id,
            [step.value for step in new.plan],
            requested,
        )

    async def claim_delivery(self, source: str, delivery_id: str, submission_id: int) -> bool:
        """Remember a webhook delivery as this submission's; False when it was seen."""
        claimed = await self.connection.fetchval(
            "INSERT INTO webhook_deliveries (source, delivery_id, submission_id)"
            " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true",
            source,
            delivery_id,
            submission_id,
        )
        return bool(claimed)

    async def claim_key(
        self, token_id: int, key: str, request_hash: str, submission_id: int
    ) -> bool:
        """Remember `key` as this submission's, unless a live one (under 24 h) holds it:
        False then, and this transaction must not commit. A concurrent claim of the same
        key waits here for the first to commit or roll back."""
        claimed = await self.connection.fetchval(
            "INSERT INTO idempotency_keys (token_id, key, request_hash, submission_id)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (token_id, key) DO UPDATE SET"
            " request_hash = EXCLUDED.request_hash, submission_id = EXCLUDED.submission_id,"
            " created_at = now() WHERE idempotency_keys.created_at < now() - interval '24 hours'"
            " RETURNING true",
            token_id,
            key,
            request_hash,
            submission_id,
        )
        return bool(claimed)

    async def export_again(self, submission_id: int, attempt: int) -> int | None:
        """A delivery someone retries: a new round, pending; its tries so far stay
        counted. None while a delivery is pending (one round at a time)."""
        round_: int | None = await self.connection.fetchval(
            "UPDATE exports SET status = 'pending', last_error = NULL, updated_at = now(),"
            " round = round + 1 WHERE submission_id = $1 AND attempt = $2"
            " AND status <> 'pending' RETURNING round",
            submission_id,
            attempt,
        )
        return round_

    async def add_job(self, job: NewJob) -> None:
        await add_job(self.connection, job)

    async def stop_older_jobs(self, submission_id: int, attempt: int) -> None:
        await stop_older_jobs(self.connection, submission_id, attempt)

    async def add_messages(self, messages: Outgoing) -> None:
        """Outbox rows: the relay publishes them once this transaction has committed."""
        for exchange, key, message in messages:
            await enqueue(self.connection, exchange, key, message)
