-- Pull runners (docs/runners.md): machines that cannot be reached pull their work.
-- A runner's identity is its token (api_tokens, role runner); labels are set by the
-- admin who registered it.
CREATE TABLE runners (
    id                  bigserial PRIMARY KEY,
    name                text NOT NULL,
    labels              text[] NOT NULL DEFAULT '{}',
    token_id            bigint NOT NULL UNIQUE REFERENCES api_tokens (id),
    version             text,
    last_heartbeat_at   timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    revoked_at          timestamptz
);

-- One job per attempt of a runner-mode submission: the steps from SANDBOX to FOCUS.
-- `claims` counts the leases given out (claims - given_back of them were lost);
-- `job_token_hash` is the current claim's token (fencing: an older one no longer matches).
CREATE TABLE runner_jobs (
    id                  bigserial PRIMARY KEY,
    submission_id       bigint NOT NULL REFERENCES submissions (id),
    attempt             integer NOT NULL,
    labels              text[] NOT NULL DEFAULT '{}',
    steps               text[] NOT NULL,
    request             jsonb NOT NULL,
    state               text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    claims              integer NOT NULL DEFAULT 0,
    given_back          integer NOT NULL DEFAULT 0,  -- claims a stopping runner returned
    runner_id           bigint REFERENCES runners (id),
    job_token_hash      text,
    lease_expires_at    timestamptz,
    cancel_requested    boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    claimed_at          timestamptz,
    finished_at         timestamptz,
    deadline            timestamptz NOT NULL,
    UNIQUE (submission_id, attempt)
);
CREATE INDEX runner_jobs_open ON runner_jobs (id) WHERE state IN ('pending', 'running');

-- Each step a job reported, once: a retried report finds its row and changes nothing.
CREATE TABLE runner_job_steps (
    job_id              bigint NOT NULL REFERENCES runner_jobs (id),
    step                text NOT NULL,
    claim               integer NOT NULL,
    status              text NOT NULL,
    reported_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, step)
);

-- A job's log, one per claim (the runner that held it), appended by byte offset.
CREATE TABLE runner_job_logs (
    job_id              bigint NOT NULL REFERENCES runner_jobs (id),
    claim               integer NOT NULL,
    runner_id           bigint REFERENCES runners (id),
    content             bytea NOT NULL DEFAULT '',
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, claim)
);
