"""Runners and their jobs in PostgreSQL (docs/runners.md).

Every decision about a job is one conditional statement, so two runners, two intakes or
a runner and the expiry sweep racing for one job leave exactly one winner: a claim is an
UPDATE whose WHERE says the job is claimable; a call of a claim's runner first locks the
job's row and checks the claim's token (fencing). Filtering by labels and limiting
happen in the query.
"""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from contracts.messages import StepRequest
from contracts.steps import StepName
from shared.auth import NewToken, Role, digest_of, new_token
from shared.db import Connection
from shared.db.outbox import Outgoing, enqueue_all

# A job a runner may take: waiting, or its last claim's lease ran out (and it has claims
# left), and nobody asked to cancel it. $2 is the most claims a job may have.
_CLAIMABLE = (
    "(j.state = 'pending' OR (j.state = 'running' AND j.lease_expires_at < now()"
    " AND j.claims - j.given_back < $2)) AND NOT j.cancel_requested AND j.deadline > now()"
)
_RUNNER_COLUMNS = (
    "r.id, r.name, r.labels, r.version, r.last_heartbeat_at, r.created_at, r.revoked_at,"
    " (SELECT j.id FROM runner_jobs j WHERE j.runner_id = r.id AND j.state = 'running'"
    "  AND j.lease_expires_at > now() ORDER BY j.id DESC LIMIT 1) AS current_job"
)
_JOB_COLUMNS = (
    "j.id, j.submission_id, j.attempt, j.labels, j.steps, j.request, j.state, j.claims,"
    " j.given_back,"
    " j.runner_id, j.job_token_hash, j.lease_expires_at, j.cancel_requested, j.created_at,"
    " j.claimed_at, j.finished_at, j.deadline,"
    " coalesce((SELECT array_agg(s.step ORDER BY s.reported_at) FROM runner_job_steps s"
    "  WHERE s.job_id = j.id), '{}') AS reported_steps"
)


@dataclass(frozen=True)
class JobPolicy:
    lease_s: float
    max_claims: int


@dataclass(frozen=True)
class RunnerIdentity:
    """The runner behind a token: its id and the labels an admin gave it."""

    id: int
    name: str
    labels: list[str]


class LogOffsetMismatch(Exception):
    """A log chunk that does not start where the stored log ends."""

    def __init__(self, length: int) -> None:
        super().__init__(f"the log has {length} bytes; send from byte {length}")
        self.length = length


@dataclass(frozen=True)
class NewJob:
    submission_id: int
    attempt: int
    labels: list[str]
    steps: list[StepName]
    request: StepRequest
    timeout_s: float


async def add_job(connection: Connection, job: NewJob) -> None:
    """In the transaction that accepts the attempt: it waits for a runner from then on."""
    await connection.execute(
        "INSERT INTO runner_jobs (submission_id, attempt, labels, steps, request, deadline)"
        " VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))",
        job.submission_id,
        job.attempt,
        job.labels,
        [step.value for step in job.steps],
        job.request.model_dump(mode="json"),
        job.timeout_s,
    )


async def stop_older_jobs(connection: Connection, submission_id: int, attempt: int) -> None:
    """A newer attempt supersedes the older ones: a job of theirs still waiting ends, a
    running one's runner hears a cancel at its next heartbeat."""
    await connection.execute(
        "UPDATE runner_jobs SET cancel_requested = true,"
        " state = CASE WHEN state = 'pending' THEN 'cancelled' ELSE state END,"
        " finished_at = CASE WHEN state = 'pending' THEN now() ELSE finished_at END"
        " WHERE submission_id = $1 AND attempt < $2 AND state IN ('pending', 'running')",
        submission_id,
        attempt,
    )


class RunnerStore:
    def __init__(self, pool: asyncpg.Pool, policy: JobPolicy) -> None:
        self.pool = pool
        self.policy = policy

    def heard_lately(self, heartbeat_at: datetime) -> bool:
        """Online: a heartbeat within two lease periods (it beats every third of one)."""
        return datetime.now(UTC) - heartbeat_at < timedelta(seconds=2 * self.policy.lease_s)

    # --- runners, for admins ---------------------------------------------------------------

    async def register(self, name: str, labels: list[str]) -> tuple[dict[str, Any], NewToken]:
        """A runner and its token, in one transaction."""
        token = new_token()
        async with self.pool.acquire() as connection, connection.transaction():
            token_id = await connection.fetchval(
                "INSERT INTO api_tokens (name, role, prefix, token_hash)"
                " VALUES ($1, $2, $3, $4) RETURNING id",
                f"runner:{name}",
                Role.RUNNER.value,
                token.prefix,
                token.digest,
            )
            runner_id = await connection.fetchval(
                "INSERT INTO runners (name, labels, token_id) VALUES ($1, $2, $3) RETURNING id",
                name,
                labels,
                token_id,
            )
        row = await self.runner(runner_id)
        assert row is not None  # just inserted
        return row, token

    async def runners(self) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(f"SELECT {_RUNNER_COLUMNS} FROM runners r ORDER BY r.id")
        return [dict(row) for row in rows]

    async def runner(self, runner_id: int) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            f"SELECT {_RUNNER_COLUMNS} FROM runners r WHERE r.id = $1", runner_id
        )
        return None if row is None else dict(row)

    async def revoke(self, runner_id: int) -> dict[str, Any] | None:
        """The runner and its token revoked at once; None when there is no live one."""
        async with self.pool.acquire() as connection, connection.transaction():
            token_id = await connection.fetchval(
                "UPDATE runners SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"
                " RETURNING token_id",
                runner_id,
            )
            if token_id is None:
                return None
            await connection.execute(
                "UPDATE api_tokens SET revoked_at = now() WHERE id = $1", token_id
            )
        return await self.runner(runner_id)

    async def identity(self, token_id: int) -> RunnerIdentity | None:
        row = await self.pool.fetchrow(
            "SELECT id, name, labels FROM runners WHERE token_id = $1 AND revoked_at IS NULL",
            token_id,
        )
        return None if row is None else RunnerIdentity(row["id"], row["name"], row["labels"])

    # --- jobs, for runners ----------------------------------------------------------------

    async def claimable(self, runner: RunnerIdentity, limit: int) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT j.id, j.submission_id, j.attempt, j.labels, j.created_at"
            f" FROM runner_jobs j WHERE {_CLAIMABLE} AND j.labels <@ $1::text[]"
            " ORDER BY j.id LIMIT $3",
            runner.labels,
            self.policy.max_claims,
            limit,
        )
        return [dict(row) for row in rows]

    async def claim(
        self, runner: RunnerIdentity, job_id: int | None
    ) -> tuple[dict[str, Any], str] | None:
        """Claim this job (or the oldest one the runner can serve): the job and its new
        job token, or None when another claim won or nothing waits."""
        token = new_token().value
        oldest = (
            f"SELECT j.id FROM runner_jobs j WHERE {_CLAIMABLE} AND j.labels <@ $1::text[]"
            " ORDER BY j.id LIMIT 1 FOR UPDATE SKIP LOCKED"
        )
        query = (
            "UPDATE runner_jobs j SET state = 'running', claims = j.claims + 1,"
            " runner_id = $3, job_token_hash = $4, claimed_at = now(),"
            " lease_expires_at = now() + make_interval(secs => $5)"
            f" WHERE j.id = coalesce($6::bigint, ({oldest}))"
            f" AND {_CLAIMABLE} AND j.labels <@ $1::text[] RETURNING j.id"
        )
        async with self.pool.acquire() as connection, connection.transaction():
            claimed = await connection.fetchval(
                query,
                runner.labels,
                self.policy.max_claims,
                runner.id,
                digest_of(token),
                self.policy.lease_s,
                job_id,
            )
            if claimed is None:
                return None
            job = await _job(connection, claimed)
            assert job is not None  # claimed just now, in this transaction
            await connection.execute(
                "INSERT INTO runner_job_logs (job_id, claim, runner_id) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                claimed,
                job["claims"],
                runner.id,
            )
        return job, token

    async def job(self, job_id: int) -> dict[str, Any] | None:
        async with self.pool.acquire() as connection:
            return await _job(connection, job_id)

    @contextlib.asynccontextmanager
    async def held(
        self, runner: RunnerIdentity, job_id: int, job_token: str, ended_too: bool = False
    ) -> AsyncIterator["HeldJob"]:
        """The job, locked, when this runner's current claim holds it (fencing); raises
        LostClaim when another claim replaced it or, unless `ended_too` (completing again,
        giving back), when the job ended; JobNotFound if there is none."""
        async with self.pool.acquire() as connection, connection.transaction():
            job = await _job(connection, job_id, lock=True)
            if job is None:
                raise JobNotFound(job_id)
            current = job["runner_id"] == runner.id and job["job_token_hash"] == digest_of(
                job_token
            )
            if not current:
                raise LostClaim("this claim is no longer the job's: another runner holds it")
            if job["state"] != "running" and not ended_too:
                raise LostClaim(f"this job already ended ({job['state']})")
            yield HeldJob(connection, job, self.policy)

    async def beat(self, runner: RunnerIdentity, version: str | None) -> None:
        await self.pool.execute(
            "UPDATE runners SET last_heartbeat_at = now(), version = coalesce($2, version)"
            " WHERE id = $1",
            runner.id,
            version,
        )

    # --- jobs, for people and the sweep ----------------------------------------------------

    async def cancel(self, submission_id: int, attempt: int) -> None:
        """Ask the attempt's job to stop: a waiting one ends now, a running one's runner
        hears it at its next heartbeat."""
        await self.pool.execute(
            "UPDATE runner_jobs SET cancel_requested = true,"
            " state = CASE WHEN state = 'pending' THEN 'cancelled' ELSE state END,"
            " finished_at = CASE WHEN state = 'pending' THEN now() ELSE finished_at END"
            " WHERE submission_id = $1 AND attempt = $2",
            submission_id,
            attempt,
        )

    async def logs(self, submission_id: int) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT j.id AS job_id, j.attempt, j.state, l.claim, l.runner_id,"
            " r.name AS runner_name, l.content, l.updated_at"
            " FROM runner_jobs j LEFT JOIN runner_job_logs l ON l.job_id = j.id"
            " LEFT JOIN runners r ON r.id = l.runner_id"
            " WHERE j.submission_id = $1 ORDER BY j.attempt, l.claim",
            submission_id,
        )
        return [dict(row) for row in rows]

    async def log_since(self, job_id: int, claim: int, offset: int) -> tuple[bytes, str] | None:
        """The log's bytes past `offset`, and the job's state."""
        row = await self.pool.fetchrow(
            "SELECT substring(l.content FROM $3 + 1) AS chunk, j.state FROM runner_job_logs l"
            " JOIN runner_jobs j ON j.id = l.job_id WHERE l.job_id = $1 AND l.claim = $2",
            job_id,
            claim,
            offset,
        )
        return None if row is None else (bytes(row["chunk"]), row["state"])

    @contextlib.asynccontextmanager
    async def expired(self) -> AsyncIterator[tuple[Connection, list[dict[str, Any]]]]:
        """Jobs whose runners are lost for good (their last claim's lease ran out and no
        claim is left), cancelled ones whose runner is gone, and ones past their deadline,
        locked so one sweep ends each."""
        async with self.pool.acquire() as connection, connection.transaction():
            ids = await connection.fetch(
                "SELECT id FROM runner_jobs WHERE (state = 'running' AND lease_expires_at < now()"
                " AND (claims - given_back >= $1 OR cancel_requested))"
                " OR (state IN ('pending', 'running') AND deadline < now())"
                " ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED",
                self.policy.max_claims,
            )
            jobs = [await _job(connection, row["id"]) for row in ids]
            yield connection, [job for job in jobs if job is not None]


class JobNotFound(Exception):
    def __init__(self, job_id: int) -> None:
        super().__init__(f"no runner job with id {job_id}")


class LostClaim(Exception):
    """Fencing: a call from a claim that no longer holds the job."""


@dataclass
class HeldJob:
    """A job locked for one call of the runner that holds it."""

    connection: Connection
    row: dict[str, Any]
    policy: JobPolicy

    @property
    def running(self) -> bool:
        return bool(self.row["state"] == "running")

    async def extend_lease(self) -> datetime:
        expires: datetime = await self.connection.fetchval(
            "UPDATE runner_jobs SET lease_expires_at = now() + make_interval(secs => $2)"
            " WHERE id = $1 RETURNING lease_expires_at",
            self.row["id"],
            self.policy.lease_s,
        )
        return expires

    async def record_step(self, step: StepName, status: str, outputs: list[Outgoing]) -> bool:
        """The step's result, once: False (and nothing sent) when it was reported before."""
        inserted = await self.connection.fetchval(
            "INSERT INTO runner_job_steps (job_id, step, claim, status) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING RETURNING true",
            self.row["id"],
            step.value,
            self.row["claims"],
            status,
        )
        if inserted:
            await enqueue_all(self.connection, outputs)
        return bool(inserted)

    async def a_step_failed(self) -> bool:
        failed = await self.connection.fetchval(
            "SELECT count(*) FROM runner_job_steps WHERE job_id = $1 AND status = 'fail'",
            self.row["id"],
        )
        return bool(failed)

    async def give_back(self) -> None:
        """The runner stops without finishing (it is shutting down): waiting again."""
        await self.connection.execute(
            "UPDATE runner_jobs SET state = 'pending', runner_id = NULL, job_token_hash = NULL,"
            " lease_expires_at = NULL, given_back = given_back + 1 WHERE id = $1",
            self.row["id"],
        )

    async def finish(self, state: str, outputs: list[Outgoing]) -> None:
        await self.connection.execute(
            "UPDATE runner_jobs SET state = $2, finished_at = now() WHERE id = $1",
            self.row["id"],
            state,
        )
        await enqueue_all(self.connection, outputs)

    async def append_log(self, start: int, chunk: bytes) -> int:
        """Append at `start`, the stored length; a chunk already stored there (a retry)
        changes nothing. Returns the length; LogOffsetMismatch when `start` is off."""
        claim = self.row["claims"]
        row = await self.connection.fetchrow(
            "SELECT length(content) AS length,"
            " substring(content FROM $3 + 1 FOR $4) = $5 AS same"
            " FROM runner_job_logs WHERE job_id = $1 AND claim = $2 FOR UPDATE",
            self.row["id"],
            claim,
            start,
            len(chunk),
            chunk,
        )
        length = 0 if row is None else int(row["length"])
        if start + len(chunk) <= length and row is not None and row["same"]:
            return length  # this chunk is stored already: a retried request
        if start != length:
            raise LogOffsetMismatch(length)
        stored: int = await self.connection.fetchval(
            "INSERT INTO runner_job_logs (job_id, claim, runner_id, content)"
            " VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (job_id, claim) DO UPDATE SET content = runner_job_logs.content"
            " || excluded.content, updated_at = now() RETURNING length(content)",
            self.row["id"],
            claim,
            self.row["runner_id"],
            chunk,
        )
        return stored


async def _job(connection: Connection, job_id: int, lock: bool = False) -> dict[str, Any] | None:
    suffix = " FOR UPDATE OF j" if lock else ""
    row = await connection.fetchrow(
        f"SELECT {_JOB_COLUMNS} FROM runner_jobs j WHERE j.id = $1{suffix}", job_id
    )
    return None if row is None else dict(row)
