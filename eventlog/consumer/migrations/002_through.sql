-- through: every event of the partition at or below this log position is
-- applied, even when the partition's own last event (position) is lower.
-- It lets a reader wait for "the area's log up to P" on one partition
-- without that partition receiving an event at or after P (WaitApplied).
ALTER TABLE {{.schema}}.consumer_checkpoints ADD COLUMN through bigint NOT NULL DEFAULT 0;
