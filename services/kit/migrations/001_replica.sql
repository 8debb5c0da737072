-- An area's local replica of other areas' entities (kit.Replica): what this
-- area needs to know of them, fed by consumers of their logs.
CREATE TABLE {{.schema}}.replica (
    area     text   NOT NULL,
    id       text   NOT NULL,
    status   text   NOT NULL DEFAULT '',
    attrs    jsonb  NOT NULL DEFAULT '{}',
    position bigint NOT NULL,
    PRIMARY KEY (area, id)
);
