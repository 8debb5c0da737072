-- The eventRecorded subscription reads each pushed event by its id
-- (graph/readstore EventByID): without an index that was a sequential scan
-- of the whole table per event and gateway (docs/plans.md).
CREATE INDEX events_id ON {{.schema}}.events (id);
