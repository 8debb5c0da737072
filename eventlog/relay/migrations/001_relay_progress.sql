-- How far the relay of each area got: the last log position copied into
-- Redis, and per partition the position of the last event copied there
-- (the "prev" of that partition's next entry). Updated after each batch of
-- XADDs succeeded, so a crash in between only causes re-sends.
CREATE TABLE {{.schema}}.relay_progress (
    area           text        PRIMARY KEY,
    position       bigint      NOT NULL CHECK (position >= 0),
    partitions     int         NOT NULL CHECK (partitions > 0),
    partition_last bigint[]    NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

---- create above / drop below ----

DROP TABLE {{.schema}}.relay_progress;
