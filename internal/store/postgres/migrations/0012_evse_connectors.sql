-- 0012_evse_connectors: an EVSE may have several connectors (#12 item 2).
-- A connector is stored under (charger, EVSE, connector within the EVSE):
-- connector_id keeps holding the EVSE (the number the API, sessions and
-- commands have always used), evse_connector_id is the connector within
-- it (OCPP 2.0.1's connectorId; a 1.6 connector n is EVSE n, connector 1).
-- Each row keeps its availability and state as the adapter mapped them;
-- status stays the word derived from them. A session records the
-- connector it charged on (0: not known, as for a reservation).
ALTER TABLE connectors ADD COLUMN evse_connector_id integer NOT NULL DEFAULT 0;
ALTER TABLE connectors ADD COLUMN availability text NOT NULL DEFAULT '';
ALTER TABLE connectors ADD COLUMN state text NOT NULL DEFAULT '';
-- Until now one row per EVSE: it becomes the EVSE's connector 1 (0 for
-- EVSE 0), its split read back from its status word as ConnectorStatus.Split does.
UPDATE connectors SET evse_connector_id = CASE WHEN connector_id > 0 THEN 1 ELSE 0 END,
    availability = CASE status WHEN 'Unavailable' THEN 'Inoperative' WHEN 'Faulted' THEN 'Inoperative'
        WHEN 'Unknown' THEN '' ELSE 'Operative' END,
    state = CASE status WHEN 'Unavailable' THEN 'Available' WHEN 'Preparing' THEN 'Occupied' ELSE status END;
ALTER TABLE connectors ALTER COLUMN evse_connector_id DROP DEFAULT;
ALTER TABLE connectors DROP CONSTRAINT connectors_pkey;
ALTER TABLE connectors ADD PRIMARY KEY (charger_id, connector_id, evse_connector_id);

-- A 1.6 session's connector is connector 1 of its EVSE; a 2.0.1 session
-- (start key 'ocpp2.0.1|…') stored before did not record its connector.
ALTER TABLE sessions ADD COLUMN evse_connector_id integer NOT NULL DEFAULT 0;
UPDATE sessions SET evse_connector_id = 1
WHERE connector_id > 0 AND transaction_id IS NOT NULL AND (start_key IS NULL OR start_key NOT LIKE 'ocpp2.0.1|%');
