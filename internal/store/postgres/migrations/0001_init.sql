-- 0001_init: chargers, connectors, id tags, sessions, meter samples, events.
-- Times are unix nanoseconds (UTC) in bigint columns, as in the SQLite store:
-- timestamptz keeps only microseconds, and the store returns exactly the
-- instant it was given. NULL is the zero time.

CREATE TABLE chargers (
    id                text PRIMARY KEY,
    registered        boolean NOT NULL,
    vendor            text NOT NULL DEFAULT '',
    model             text NOT NULL DEFAULT '',
    serial_number     text NOT NULL DEFAULT '',
    firmware_version  text NOT NULL DEFAULT '',
    iccid             text NOT NULL DEFAULT '',
    imsi              text NOT NULL DEFAULT '',
    meter_type        text NOT NULL DEFAULT '',
    meter_serial      text NOT NULL DEFAULT '',
    boot_status       text NOT NULL DEFAULT '',
    strict_timestamps boolean NOT NULL DEFAULT false,
    last_boot_at      bigint,
    last_seen_at      bigint,
    created_at        bigint
);

CREATE TABLE connectors (
    charger_id        text NOT NULL REFERENCES chargers (id) ON DELETE CASCADE,
    connector_id      integer NOT NULL,
    status            text NOT NULL,
    error_code        text NOT NULL DEFAULT '',
    info              text NOT NULL DEFAULT '',
    vendor_id         text NOT NULL DEFAULT '',
    vendor_error_code text NOT NULL DEFAULT '',
    status_at         bigint,
    updated_at        bigint,
    PRIMARY KEY (charger_id, connector_id)
);

CREATE TABLE id_tags (
    id         text PRIMARY KEY,
    status     text NOT NULL,
    expires_at bigint,
    parent_id  text NOT NULL DEFAULT '',
    created_at bigint
);

-- transaction_ids hands out OCPP transaction ids to every server sharing
-- the database. nextval never returns a value twice, also across processes
-- and restarts; CACHE 1 keeps the ids increasing in the order they are
-- handed out. The maximum is that of a signed 32-bit integer, the type many
-- chargers keep a transactionId in: past it, starts fail loudly instead of
-- sending an id a charger cannot hold.
CREATE SEQUENCE transaction_ids AS bigint START 1 CACHE 1 MAXVALUE 2147483647 NO CYCLE;

-- seq orders sessions for listing and cursor paging.
CREATE TABLE sessions (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               text NOT NULL UNIQUE,
    start_key        text UNIQUE,
    charger_id       text NOT NULL,
    connector_id     integer NOT NULL,
    transaction_id   bigint NOT NULL UNIQUE,
    id_tag           text NOT NULL,
    status           text NOT NULL,
    reservation_id   bigint,
    meter_start_wh   bigint NOT NULL,
    meter_stop_wh    bigint,
    last_register_wh double precision NOT NULL,
    max_power_kw     double precision NOT NULL DEFAULT 0,
    last_power_kw    double precision,
    last_power_at    bigint,
    soc              double precision,
    soc_at           bigint,
    started_at       bigint,
    ended_at         bigint,
    stop_reason      text NOT NULL DEFAULT '',
    last_updated     bigint
);
CREATE INDEX sessions_charger ON sessions (charger_id, seq);
CREATE INDEX sessions_status ON sessions (status, seq);
CREATE INDEX sessions_status_charger ON sessions (charger_id, status, seq);
-- At most one open session per connector: StartSession closes the open one
-- before it stores the next, under a lock per connector; the index makes
-- the rule hold for any writer.
CREATE UNIQUE INDEX sessions_open_connector ON sessions (charger_id, connector_id)
    WHERE status IN ('pending', 'active', 'stopping');
CREATE INDEX sessions_open_tag ON sessions (id_tag, seq)
    WHERE status IN ('pending', 'active', 'stopping');

-- meter_samples holds one row per MeterSample; vals is the JSON array of its
-- SampledValues, kept as written (json, not jsonb: jsonb would turn -0 into
-- 0). session_seq is NULL for samples of an unknown transaction.
CREATE TABLE meter_samples (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_seq    bigint REFERENCES sessions (seq),
    charger_id     text NOT NULL,
    connector_id   integer NOT NULL,
    transaction_id bigint,
    ts             bigint,
    received_at    bigint,
    vals           json NOT NULL
);
CREATE INDEX meter_samples_session ON meter_samples (session_seq, ts NULLS FIRST, id);
CREATE INDEX meter_samples_unattached ON meter_samples (charger_id, id)
    WHERE session_seq IS NULL;

CREATE TABLE events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    charger_id text NOT NULL,
    kind       text NOT NULL,
    payload    bytea,
    at         bigint
);
CREATE INDEX events_charger ON events (charger_id, id);
