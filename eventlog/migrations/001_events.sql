-- The area's append-only event log. position is assigned by the single
-- writer under a transaction-scoped advisory lock, so positions commit in
-- order and contiguously from 1.
CREATE TABLE {{.schema}}.events (
    position    bigint      PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    stream_id   text        NOT NULL,
    version     bigint      NOT NULL CHECK (version > 0),
    type        text        NOT NULL,
    data        jsonb       NOT NULL,
    metadata    jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL,
    CONSTRAINT events_stream_version UNIQUE (stream_id, version)
);

-- One row per append that carried an idempotency key: a repeat of the key
-- records nothing and answers with the events between the two positions.
CREATE TABLE {{.schema}}.idempotency (
    key            text        PRIMARY KEY,
    first_position bigint      NOT NULL,
    last_position  bigint      NOT NULL,
    recorded_at    timestamptz NOT NULL
);

---- create above / drop below ----

DROP TABLE {{.schema}}.idempotency;
DROP TABLE {{.schema}}.events;
