-- POST /api/v1/submissions with an Idempotency-Key: the first answer, per token and key,
-- for 24 hours; the request's hash tells a retry from a different request.
CREATE TABLE idempotency_keys (
    token_id        bigint NOT NULL REFERENCES api_tokens (id),
    key             text NOT NULL,
    request_hash    text NOT NULL,
    submission_id   bigint NOT NULL REFERENCES submissions (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (token_id, key)
);
