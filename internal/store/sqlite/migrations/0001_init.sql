-- 0001_init: chargers, connectors, id tags, sessions, meter samples, events.
-- Times are unix nanoseconds (UTC); NULL is the zero time.

CREATE TABLE chargers (
    id                TEXT PRIMARY KEY,
    registered        INTEGER NOT NULL,
    vendor            TEXT NOT NULL DEFAULT '',
    model             TEXT NOT NULL DEFAULT '',
    serial_number     TEXT NOT NULL DEFAULT '',
    firmware_version  TEXT NOT NULL DEFAULT '',
    iccid             TEXT NOT NULL DEFAULT '',
    imsi              TEXT NOT NULL DEFAULT '',
    meter_type        TEXT NOT NULL DEFAULT '',
    meter_serial      TEXT NOT NULL DEFAULT '',
    boot_status       TEXT NOT NULL DEFAULT '',
    strict_timestamps INTEGER NOT NULL DEFAULT 0,
    last_boot_at      INTEGER,
    last_seen_at      INTEGER,
    created_at        INTEGER
) STRICT;

CREATE TABLE connectors (
    charger_id        TEXT NOT NULL REFERENCES chargers (id) ON DELETE CASCADE,
    connector_id      INTEGER NOT NULL,
    status            TEXT NOT NULL,
    error_code        TEXT NOT NULL DEFAULT '',
    info              TEXT NOT NULL DEFAULT '',
    vendor_id         TEXT NOT NULL DEFAULT '',
    vendor_error_code TEXT NOT NULL DEFAULT '',
    status_at         INTEGER,
    updated_at        INTEGER,
    PRIMARY KEY (charger_id, connector_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE id_tags (
    id         TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    expires_at INTEGER,
    parent_id  TEXT NOT NULL DEFAULT '',
    created_at INTEGER
) STRICT;

-- tx_sequence hands out OCPP transaction ids: one row, bumped inside the
-- transaction that stores the session, so an id is never handed out twice,
-- across restarts too.
CREATE TABLE tx_sequence (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last INTEGER NOT NULL
) STRICT;
INSERT INTO tx_sequence (id, last) VALUES (1, 0);

-- seq orders sessions for listing and cursor paging; AUTOINCREMENT keeps it
-- increasing forever.
CREATE TABLE sessions (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    start_key        TEXT UNIQUE,
    charger_id       TEXT NOT NULL,
    connector_id     INTEGER NOT NULL,
    transaction_id   INTEGER NOT NULL UNIQUE,
    id_tag           TEXT NOT NULL,
    status           TEXT NOT NULL,
    reservation_id   INTEGER,
    meter_start_wh   INTEGER NOT NULL,
    meter_stop_wh    INTEGER,
    last_register_wh REAL NOT NULL,
    max_power_kw     REAL NOT NULL DEFAULT 0,
    last_power_kw    REAL,
    last_power_at    INTEGER,
    soc              REAL,
    soc_at           INTEGER,
    started_at       INTEGER,
    ended_at         INTEGER,
    stop_reason      TEXT NOT NULL DEFAULT '',
    last_updated     INTEGER
) STRICT;
CREATE INDEX sessions_charger ON sessions (charger_id, seq);
CREATE INDEX sessions_status ON sessions (status, seq);
CREATE INDEX sessions_open_connector ON sessions (charger_id, connector_id)
    WHERE status IN ('pending', 'active', 'stopping');
CREATE INDEX sessions_open_tag ON sessions (id_tag, seq)
    WHERE status IN ('pending', 'active', 'stopping');

-- meter_samples holds one row per MeterSample; vals is the JSON array of its
-- SampledValues. session_seq is NULL for samples of an unknown transaction.
CREATE TABLE meter_samples (
    id             INTEGER PRIMARY KEY,
    session_seq    INTEGER REFERENCES sessions (seq),
    charger_id     TEXT NOT NULL,
    connector_id   INTEGER NOT NULL,
    transaction_id INTEGER,
    ts             INTEGER,
    received_at    INTEGER,
    vals           TEXT NOT NULL
) STRICT;
CREATE INDEX meter_samples_session ON meter_samples (session_seq, ts)
    WHERE session_seq IS NOT NULL;
CREATE INDEX meter_samples_unattached ON meter_samples (charger_id, id)
    WHERE session_seq IS NULL;

CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    charger_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    payload    BLOB,
    at         INTEGER
) STRICT;
CREATE INDEX events_charger ON events (charger_id, id);
