-- The events read model is written once per event by every catch-up and
-- every live batch, and read back whole (histories, the event feed): it
-- keeps what those need and no more.
-- - events_id served the lookup by event id of the old eventRecorded
--   subscription; the feed reads by (area, position) and histories by
--   (stream_id, version), so nothing reads it.
-- - data is json, not jsonb: stored as the log's text after a syntax
--   check instead of being converted to jsonb and back for every read;
--   nothing queries inside it. About half the cost of inserting a row.
-- On an existing table this rewrites it once (crm migrate).
DROP INDEX {{.schema}}.events_id;
ALTER TABLE {{.schema}}.events ALTER COLUMN data TYPE json USING data::json;
