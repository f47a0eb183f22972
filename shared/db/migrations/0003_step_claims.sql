-- The step a worker is running now, kept alive by its heartbeats. A submission waiting
-- in a queue has no claim; only a claim whose heartbeats stopped is a stall.
CREATE TABLE step_claims (
    submission_id   bigint NOT NULL,
    attempt         integer NOT NULL,
    step            text NOT NULL,
    consumer        text NOT NULL,
    claimed_at      timestamptz NOT NULL DEFAULT now(),
    heartbeat_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, attempt, step)
);
CREATE INDEX step_claims_heartbeat ON step_claims (heartbeat_at);

-- Published rows are deleted, so the pending index is the whole table.
DELETE FROM outbox WHERE published_at IS NOT NULL;
