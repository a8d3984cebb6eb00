-- 0012_evse_connectors: an EVSE may have several connectors (#12 item 2).
-- A connector is stored under (charger, EVSE, connector within the EVSE):
-- connector_id keeps holding the EVSE (the number the API, sessions and
-- commands have always used), evse_connector_id is the connector within
-- it (OCPP 2.0.1's connectorId; a 1.6 connector n is EVSE n, connector 1).
-- Each row keeps its availability and state as the adapter mapped them;
-- status stays the word derived from them. A session records the
-- connector it charged on (0: not known, as for a reservation).
-- The primary key changes, which in SQLite means building the table anew.

CREATE TEMP TABLE connectors_0011 AS SELECT * FROM main.connectors;
DROP TABLE main.connectors;

CREATE TABLE main.connectors (
    charger_id        TEXT NOT NULL REFERENCES chargers (id) ON DELETE CASCADE,
    connector_id      INTEGER NOT NULL,
    evse_connector_id INTEGER NOT NULL,
    availability      TEXT NOT NULL DEFAULT '',
    state             TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL,
    error_code        TEXT NOT NULL DEFAULT '',
    info              TEXT NOT NULL DEFAULT '',
    vendor_id         TEXT NOT NULL DEFAULT '',
    vendor_error_code TEXT NOT NULL DEFAULT '',
    status_at         INTEGER,
    updated_at        INTEGER,
    PRIMARY KEY (charger_id, connector_id, evse_connector_id)
) STRICT, WITHOUT ROWID;

-- Until now one row per EVSE: it becomes the EVSE's connector 1 (0 for
-- EVSE 0), its split read back from its status word as ConnectorStatus.Split does.
INSERT INTO main.connectors (charger_id, connector_id, evse_connector_id, availability, state, status, error_code,
    info, vendor_id, vendor_error_code, status_at, updated_at)
SELECT charger_id, connector_id, CASE WHEN connector_id > 0 THEN 1 ELSE 0 END,
    CASE status WHEN 'Unavailable' THEN 'Inoperative' WHEN 'Faulted' THEN 'Inoperative' WHEN 'Unknown' THEN ''
        ELSE 'Operative' END,
    CASE status WHEN 'Unavailable' THEN 'Available' WHEN 'Preparing' THEN 'Occupied' ELSE status END,
    status, error_code, info, vendor_id, vendor_error_code, status_at, updated_at
FROM connectors_0011;
DROP TABLE connectors_0011;

-- A 1.6 session's connector is connector 1 of its EVSE; a 2.0.1 session
-- (start key 'ocpp2.0.1|…') stored before did not record its connector.
ALTER TABLE main.sessions ADD COLUMN evse_connector_id INTEGER NOT NULL DEFAULT 0;
UPDATE main.sessions SET evse_connector_id = 1
WHERE connector_id > 0 AND transaction_id IS NOT NULL AND (start_key IS NULL OR start_key NOT LIKE 'ocpp2.0.1|%');
