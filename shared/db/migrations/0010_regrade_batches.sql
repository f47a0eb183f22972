-- A bulk regrade: every student's latest submission of an assignment, fed to the
-- pipeline through a lower-priority lane (only while the first step's queue is short),
-- so that students submitting at the same time are not delayed behind it.
CREATE TABLE regrade_batches (
    id              bigserial PRIMARY KEY,
    config_id       bigint NOT NULL REFERENCES grading_configs (id),
    use_latest      boolean NOT NULL,
    created_by      bigint REFERENCES api_tokens (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE regrade_items (
    batch_id        bigint NOT NULL REFERENCES regrade_batches (id),
    submission_id   bigint NOT NULL REFERENCES submissions (id),
    attempt         integer,  -- NULL while it waits in the lane
    PRIMARY KEY (batch_id, submission_id)
);
CREATE INDEX regrade_items_waiting ON regrade_items (batch_id) WHERE attempt IS NULL;
