-- 0004_events: the event log (transactional outbox). A store write that
-- changes a session, connector or charger inserts the events describing the
-- change in its own transaction. pos (a bigserial) is drawn at insert time,
-- so it is not commit order; xid records the inserting transaction, and
-- consumers read in (xid, pos) order only what transactions older than every
-- running one wrote (see the store's events.go). (The older table "events"
-- holds chargers' reports, not this log.)
CREATE TABLE event_log (
    pos        bigserial PRIMARY KEY,
    xid        xid8   NOT NULL DEFAULT pg_current_xact_id(),
    id         text   NOT NULL UNIQUE,
    session_id text   NOT NULL DEFAULT '',
    seq        bigint NOT NULL DEFAULT 0,
    charger_id text   NOT NULL DEFAULT '',
    kind       text   NOT NULL,
    at         bigint NOT NULL,
    body       jsonb  NOT NULL
);
CREATE INDEX event_log_order ON event_log (xid, pos);

-- A durable consumer's position: the (xid, pos) of the last event it
-- acknowledged.
CREATE TABLE event_consumers (
    name       text   PRIMARY KEY,
    xid        xid8   NOT NULL,
    pos        bigint NOT NULL,
    updated_at bigint NOT NULL
);
