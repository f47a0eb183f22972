-- API tokens: only a SHA-256 of each is kept; the prefix is public and finds the row.
CREATE TABLE api_tokens (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('admin', 'instructor', 'integration', 'runner')),
    prefix          text NOT NULL UNIQUE,
    token_hash      text NOT NULL,
    -- An instructor's assignments (external_assignment_id); NULL grants every one.
    assignments     text[],
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    last_used_at    timestamptz,
    revoked_at      timestamptz
);

-- Which token created a submission: an integration reads only its own.
ALTER TABLE submissions ADD COLUMN created_by bigint REFERENCES api_tokens (id);
