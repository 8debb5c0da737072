-- The deals of each customer and their stage, kept by campaigns.Inline in
-- the transaction that appends the deal's events, so it never lags the log:
-- the reaction to a customer's archiving finds the customer's open deals
-- here instead of scanning the log.
CREATE TABLE {{.schema}}.deal_index (
    deal_id     text   PRIMARY KEY,
    customer_id text   NOT NULL,
    stage       text   NOT NULL CHECK (stage IN ('OPEN', 'WON', 'LOST')),
    -- position of the deal's latest event in the area's log
    position    bigint NOT NULL
);

CREATE INDEX deal_index_open_by_customer ON {{.schema}}.deal_index (customer_id, deal_id) WHERE stage = 'OPEN';

-- Deals recorded before the index existed (a log written without it).
INSERT INTO {{.schema}}.deal_index (deal_id, customer_id, stage, position)
SELECT o.stream_id,
       o.data->>'customerId',
       CASE last.type WHEN 'DealWon' THEN 'WON' WHEN 'DealLost' THEN 'LOST' ELSE 'OPEN' END,
       last.position
FROM {{.schema}}.events AS o
CROSS JOIN LATERAL (
    SELECT e.type, e.position FROM {{.schema}}.events AS e
    WHERE e.stream_id = o.stream_id ORDER BY e.version DESC LIMIT 1
) AS last
WHERE o.type = 'DealOpened';

---- create above / drop below ----

DROP TABLE {{.schema}}.deal_index;
