-- 0003_lifecycle_docs: sessions that exist before their transaction does
-- (reserved, pending), and documents.
--
-- A session without a transaction has a NULL transaction_id, so any number
-- of them fit beside the UNIQUE constraint; that needs the NOT NULL gone,
-- which in SQLite means building the table anew. session_meter and
-- meter_samples refer to sessions (seq): the foreign keys are checked at
-- commit (defer_foreign_keys, which ends with the transaction), and by then
-- every seq they name is back. expires_at is when a reserved or pending
-- session ends if no StartTransaction takes it over.

PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE sessions_0003 AS SELECT * FROM main.sessions;
CREATE TEMP TABLE sessions_0003_seq AS SELECT seq FROM main.sqlite_sequence WHERE name = 'sessions';

DROP TABLE main.sessions;

CREATE TABLE main.sessions (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    start_key      TEXT UNIQUE,
    charger_id     TEXT NOT NULL,
    connector_id   INTEGER NOT NULL,
    transaction_id INTEGER UNIQUE,
    id_tag         TEXT NOT NULL,
    status         TEXT NOT NULL,
    reservation_id INTEGER,
    meter_start_wh INTEGER NOT NULL,
    meter_stop_wh  INTEGER,
    started_at     INTEGER,
    ended_at       INTEGER,
    stop_reason    TEXT NOT NULL DEFAULT '',
    expires_at     INTEGER
) STRICT;

INSERT INTO main.sessions (seq, id, start_key, charger_id, connector_id, transaction_id, id_tag, status, reservation_id,
    meter_start_wh, meter_stop_wh, started_at, ended_at, stop_reason)
SELECT seq, id, start_key, charger_id, connector_id, transaction_id, id_tag, status, reservation_id,
    meter_start_wh, meter_stop_wh, started_at, ended_at, stop_reason
FROM sessions_0003 ORDER BY seq;

-- AUTOINCREMENT continues where it was, even past deleted sessions.
UPDATE main.sqlite_sequence SET seq = max(seq, (SELECT seq FROM sessions_0003_seq))
WHERE name = 'sessions' AND EXISTS (SELECT 1 FROM sessions_0003_seq);

DROP TABLE sessions_0003;
DROP TABLE sessions_0003_seq;

CREATE INDEX main.sessions_charger ON sessions (charger_id, seq);
CREATE INDEX main.sessions_status ON sessions (status, seq);
CREATE INDEX main.sessions_open_connector ON sessions (charger_id, connector_id)
    WHERE status IN ('pending', 'active', 'stopping');
CREATE INDEX main.sessions_open_tag ON sessions (id_tag, seq)
    WHERE status IN ('pending', 'active', 'stopping');
-- sessions_waiting finds the reserved or pending session a StartTransaction
-- takes over.
CREATE INDEX main.sessions_waiting ON sessions (charger_id, connector_id)
    WHERE status IN ('reserved', 'pending');

-- docs holds documents the adapters own (charging.DocStore): a JSON body
-- under a kind and an id, listed by kind (and owner) in the order of
-- updated.
CREATE TABLE main.docs (
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    owner   TEXT NOT NULL DEFAULT '',
    body    BLOB,
    updated INTEGER,
    PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX main.docs_updated ON docs (kind, updated, id);
CREATE INDEX main.docs_owner ON docs (kind, owner, updated, id);
