-- 0010_transaction_id_text: a transaction id is text, unique per charger
-- (#12): OCPP 2.0.1 stations name their transactions themselves, and two
-- chargers may each have a transaction "1". 1.6 transactions still draw
-- numbers from tx_sequence, stored in decimal. The UNIQUE constraint moves
-- from transaction_id to (charger_id, transaction_id), which in SQLite
-- means building the table anew (see 0003 for the foreign keys).

PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE sessions_0010 AS SELECT * FROM main.sessions;
CREATE TEMP TABLE sessions_0010_seq AS SELECT seq FROM main.sqlite_sequence WHERE name = 'sessions';

DROP TABLE main.sessions;

CREATE TABLE main.sessions (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    start_key      TEXT UNIQUE,
    charger_id     TEXT NOT NULL,
    connector_id   INTEGER NOT NULL,
    transaction_id TEXT,
    id_tag         TEXT NOT NULL,
    status         TEXT NOT NULL,
    reservation_id INTEGER,
    meter_start_wh INTEGER NOT NULL,
    meter_stop_wh  INTEGER,
    started_at     INTEGER,
    ended_at       INTEGER,
    stop_reason    TEXT NOT NULL DEFAULT '',
    expires_at     INTEGER,
    event_seq      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (charger_id, transaction_id)
) STRICT;

INSERT INTO main.sessions (seq, id, start_key, charger_id, connector_id, transaction_id, id_tag, status, reservation_id,
    meter_start_wh, meter_stop_wh, started_at, ended_at, stop_reason, expires_at, event_seq)
SELECT seq, id, start_key, charger_id, connector_id, CAST(transaction_id AS TEXT), id_tag, status, reservation_id,
    meter_start_wh, meter_stop_wh, started_at, ended_at, stop_reason, expires_at, event_seq
FROM sessions_0010 ORDER BY seq;

UPDATE main.sqlite_sequence SET seq = max(seq, (SELECT seq FROM sessions_0010_seq))
WHERE name = 'sessions' AND EXISTS (SELECT 1 FROM sessions_0010_seq);

DROP TABLE sessions_0010;
DROP TABLE sessions_0010_seq;

CREATE INDEX main.sessions_charger ON sessions (charger_id, seq);
CREATE INDEX main.sessions_status ON sessions (status, seq);
CREATE INDEX main.sessions_open_connector ON sessions (charger_id, connector_id)
    WHERE status IN ('pending', 'active', 'stopping');
CREATE INDEX main.sessions_open_tag ON sessions (id_tag, seq)
    WHERE status IN ('pending', 'active', 'stopping');
CREATE INDEX main.sessions_waiting ON sessions (charger_id, connector_id)
    WHERE status IN ('reserved', 'pending');

-- meter_samples keeps the transaction id a sample named (unattached
-- samples of an unknown transaction included): text too.
ALTER TABLE main.meter_samples RENAME COLUMN transaction_id TO transaction_id_0010;
ALTER TABLE main.meter_samples ADD COLUMN transaction_id TEXT;
UPDATE main.meter_samples SET transaction_id = CAST(transaction_id_0010 AS TEXT) WHERE transaction_id_0010 IS NOT NULL;
ALTER TABLE main.meter_samples DROP COLUMN transaction_id_0010;
