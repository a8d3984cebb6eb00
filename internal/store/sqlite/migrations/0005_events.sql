-- 0005_events: the event log (transactional outbox). A store write that
-- changes a session, connector or charger inserts the events describing the
-- change in its own transaction; consumers read the log in pos order and
-- keep their position in event_consumers. (The older table "events" holds
-- chargers' reports, not this log.)
CREATE TABLE event_log (
    pos        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    session_id TEXT    NOT NULL DEFAULT '',
    seq        INTEGER NOT NULL DEFAULT 0,
    charger_id TEXT    NOT NULL DEFAULT '',
    kind       TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    body       BLOB    NOT NULL -- JSON (package eventlog)
) STRICT;

-- A durable consumer's position: the last pos it acknowledged.
CREATE TABLE event_consumers (
    name       TEXT    PRIMARY KEY,
    pos        INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
