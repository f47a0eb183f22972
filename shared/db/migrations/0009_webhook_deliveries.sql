-- Submissions that arrived by webhook, by the sender's delivery id: a replay (the same
-- delivery sent again) answers the submission it made and creates nothing.
CREATE TABLE webhook_deliveries (
    source          text NOT NULL,
    delivery_id     text NOT NULL,
    submission_id   bigint NOT NULL REFERENCES submissions (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, delivery_id)
);
