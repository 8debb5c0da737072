-- Projection "events": every event of the four areas, for histories and the
-- eventRecorded subscription.
CREATE TABLE {{.schema}}.events (
    area        text NOT NULL,
    position    bigint NOT NULL,
    id          text NOT NULL,
    stream_id   text NOT NULL,
    version     bigint NOT NULL,
    type        text NOT NULL,
    data        jsonb NOT NULL,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (area, position)
);

CREATE INDEX events_stream ON {{.schema}}.events (stream_id, version);
