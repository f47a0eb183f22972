-- The first schema: configs, submissions and their attempts, the append-only step
-- events, the assembled results, content-addressed blobs, the outbox and the inbox.

CREATE TABLE grading_configs (
    id                      bigserial PRIMARY KEY,
    external_assignment_id  text NOT NULL,
    version                 int NOT NULL,
    body                    jsonb NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (external_assignment_id, version)
);

CREATE TABLE submissions (
    id                  bigserial PRIMARY KEY,
    grading_config_id   bigint NOT NULL REFERENCES grading_configs (id),
    external_user_id    text NOT NULL DEFAULT '',
    username            text NOT NULL DEFAULT '',
    language            text NOT NULL,
    locale              text NOT NULL DEFAULT 'en',
    manifest            jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- A regrade is a new attempt; earlier attempts and their events are kept.
CREATE TABLE attempts (
    submission_id   bigint NOT NULL REFERENCES submissions (id),
    attempt         int NOT NULL,
    config_id       bigint NOT NULL REFERENCES grading_configs (id),
    plan            jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'queued',
    current_step    text,
    accepted_at     timestamptz NOT NULL DEFAULT now(),
    last_event_at   timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    PRIMARY KEY (submission_id, attempt)
);
CREATE INDEX attempts_open ON attempts (last_event_at) WHERE finished_at IS NULL;

CREATE TABLE step_events (
    id              bigserial PRIMARY KEY,
    submission_id   bigint NOT NULL,
    attempt         int NOT NULL,
    step            text NOT NULL,
    status          text NOT NULL,
    message         text NOT NULL,
    error_details   jsonb,
    output          jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    message_id      uuid NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (submission_id, attempt, step),
    FOREIGN KEY (submission_id, attempt) REFERENCES attempts (submission_id, attempt)
);

CREATE TABLE results (
    submission_id       bigint NOT NULL,
    attempt             int NOT NULL,
    status              text NOT NULL,
    final_score         double precision,
    result_tree         jsonb,
    feedback            text,
    pipeline_execution  jsonb NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, attempt),
    FOREIGN KEY (submission_id, attempt) REFERENCES attempts (submission_id, attempt)
);

CREATE TABLE blobs (
    sha256      text PRIMARY KEY,
    size        bigint NOT NULL,
    content     bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    exchange        text NOT NULL,
    routing_key     text NOT NULL,
    body            bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

-- Messages a consumer has fully handled, so a redelivery changes nothing.
CREATE TABLE processed_messages (
    consumer        text NOT NULL,
    key             text NOT NULL,
    processed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, key)
);
