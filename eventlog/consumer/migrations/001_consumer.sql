-- Checkpoints and dead letters of the consumer framework (crm/eventlog/consumer),
-- kept in the consuming component's own database next to its read models or
-- replica tables, so that applying an event and advancing the checkpoint are
-- one transaction.

-- One row per (consumer name, followed area, partition). Consumers lock it
-- (SELECT ... FOR UPDATE) for the whole apply transaction: that lock, not the
-- Redis lease, is what rules out double application and reordering.
CREATE TABLE {{.schema}}.consumer_checkpoints (
    name       text        NOT NULL,
    area       text        NOT NULL,
    partition  integer     NOT NULL CHECK (partition >= 0),
    position   bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, area, partition)
);

-- Events whose handler kept failing. A row is written in the transaction that
-- moves the checkpoint past the event, so a parked event is never lost.
-- data is text, not jsonb: a poison event may be one whose data is not JSON.
CREATE TABLE {{.schema}}.consumer_dead_letters (
    name        text        NOT NULL,
    area        text        NOT NULL,
    position    bigint      NOT NULL,
    partition   integer     NOT NULL,
    event_id    text        NOT NULL,
    stream_id   text        NOT NULL,
    version     bigint      NOT NULL,
    type        text        NOT NULL,
    data        text        NOT NULL,
    metadata    jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL,
    error       text        NOT NULL,
    attempts    integer     NOT NULL,
    consumer_id text        NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, area, position)
);

CREATE INDEX consumer_dead_letters_parked ON {{.schema}}.consumer_dead_letters (name, area, parked_at DESC);
