-- Who caused each event (eventlog.Metadata.Actor): the verified user, or
-- "system" for reactions; NULL when the log recorded none. Served as
-- Event.actor. Rows projected before this column existed stay NULL until
-- the projection is rebuilt (crm projections rebuild events).
ALTER TABLE {{.schema}}.events ADD COLUMN actor text;
