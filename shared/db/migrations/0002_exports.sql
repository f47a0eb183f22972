-- The delivery of a finished attempt to its webhook: its own state, never the grade's.
CREATE TABLE exports (
    submission_id   bigint NOT NULL,
    attempt         integer NOT NULL,
    url             text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    -- A person's retry starts a new round; tries of an older round change nothing.
    round           integer NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    PRIMARY KEY (submission_id, attempt),
    FOREIGN KEY (submission_id, attempt) REFERENCES attempts (submission_id, attempt)
);
