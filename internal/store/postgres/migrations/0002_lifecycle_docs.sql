-- 0002_lifecycle_docs: sessions that exist before their transaction does
-- (reserved, pending), and documents.
--
-- A session without a transaction has a NULL transaction_id (read back as
-- 0); UNIQUE lets any number of NULLs coexist. expires_at is when a
-- reserved or pending session ends if no StartTransaction takes it over.

ALTER TABLE sessions ALTER COLUMN transaction_id DROP NOT NULL;
ALTER TABLE sessions ADD COLUMN expires_at bigint;

-- At most one open session with a transaction per connector. A pending
-- session without one is a remote start the charger has not begun: several
-- may wait (on connector 0, for different id tags), and a StartTransaction
-- takes one over or leaves it to expire, never closes it as interrupted.
DROP INDEX sessions_open_connector;
CREATE UNIQUE INDEX sessions_open_connector ON sessions (charger_id, connector_id)
    WHERE status IN ('pending', 'active', 'stopping') AND transaction_id IS NOT NULL;

-- sessions_waiting finds the reserved or pending session a StartTransaction
-- takes over.
CREATE INDEX sessions_waiting ON sessions (charger_id, connector_id, seq)
    WHERE status IN ('reserved', 'pending') AND transaction_id IS NULL;

-- docs holds documents the adapters own (charging.DocStore): a body kept
-- byte for byte under a kind and an id, listed by kind (and owner) in the
-- order of updated, then id. updated is unix nanoseconds; NULL is the zero
-- time, before every other.
CREATE TABLE docs (
    kind    text NOT NULL,
    id      text NOT NULL,
    owner   text NOT NULL DEFAULT '',
    body    bytea NOT NULL,
    updated bigint,
    PRIMARY KEY (kind, id)
);
CREATE INDEX docs_updated ON docs (kind, updated NULLS FIRST, id);
CREATE INDEX docs_owner ON docs (kind, owner, updated NULLS FIRST, id);
