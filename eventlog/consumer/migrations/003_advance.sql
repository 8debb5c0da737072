-- consumer_advance moves the checkpoints of several (name, partition) rows in one
-- statement, each only from the position the consumer expects, and fails
-- the whole transaction (SQLSTATE CRMCP) when any of them is elsewhere:
-- another consumer of the same name applied them meanwhile. Applying a
-- batch starts with it, so the batch's writes commit together with the
-- checkpoints or not at all, in one round trip, and the row locks it takes
-- serialize consumers that overlap.
CREATE FUNCTION {{.schema}}.consumer_advance(p_names text[], p_area text, p_parts integer[], p_expected bigint[], p_new bigint[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    UPDATE {{.schema}}.consumer_checkpoints c SET position = u.new, updated_at = now()
    FROM unnest(p_names, p_parts, p_expected, p_new) AS u(name, part, expected, new)
    WHERE c.name = u.name AND c.area = p_area AND c.partition = u.part AND c.position = u.expected;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> cardinality(p_parts) THEN
        RAISE EXCEPTION 'consumer on %: a checkpoint moved under this batch', p_area USING ERRCODE = 'CRMCP';
    END IF;
    RETURN n;
END
$$;
