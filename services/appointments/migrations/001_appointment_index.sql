-- The appointments area's own index of its appointments, kept in the same
-- schema as its event log and written by the log's inline projection
-- (appointments.Inline) in the transaction that appends the events, so it
-- never lags the log. It is not a read model: the service uses it to find a
-- customer's upcoming appointments when the customer is archived.
--
-- Every Appointment* event carries the appointment's customer, salesperson
-- and current times, so a row is the last such event of the stream.
CREATE TABLE {{.schema}}.appointment_index (
    appointment_id text        PRIMARY KEY,
    customer_id    text        NOT NULL,
    salesperson_id text        NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    status         text        NOT NULL CHECK (status IN ('SCHEDULED', 'COMPLETED', 'CANCELLED')),
    -- The stream version and log position of the event the row reflects.
    version        bigint      NOT NULL CHECK (version > 0),
    position       bigint      NOT NULL
);

-- Only scheduled appointments are ever looked up (a customer's future ones).
CREATE INDEX appointment_index_customer_scheduled
    ON {{.schema}}.appointment_index (customer_id, starts_at)
    WHERE status = 'SCHEDULED';

-- A log recorded before this index existed is indexed from its events.
INSERT INTO {{.schema}}.appointment_index
    (appointment_id, customer_id, salesperson_id, starts_at, ends_at, status, version, position)
SELECT DISTINCT ON (stream_id)
       stream_id, data->>'customerId', data->>'salespersonId',
       (data->>'startsAt')::timestamptz, (data->>'endsAt')::timestamptz,
       CASE type WHEN 'AppointmentCancelled' THEN 'CANCELLED'
                 WHEN 'AppointmentCompleted' THEN 'COMPLETED'
                 ELSE 'SCHEDULED' END,
       version, position
  FROM {{.schema}}.events
 WHERE type IN ('AppointmentScheduled', 'AppointmentRescheduled', 'AppointmentCancelled', 'AppointmentCompleted')
 ORDER BY stream_id, version DESC;

---- create above / drop below ----

DROP TABLE {{.schema}}.appointment_index;
