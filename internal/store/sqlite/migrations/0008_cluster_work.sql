-- 0008_cluster_work: the sequence and leases the PostgreSQL store shares
-- between nodes, here for the one process that owns the file. work_seq
-- numbers work (OCPI outbox entries); it starts at the microseconds since
-- the epoch so that numbers drawn before (the outbox's wall-clock
-- sequence) stay smaller. AUTOINCREMENT never hands a number out twice.
CREATE TABLE work_seq (n INTEGER PRIMARY KEY AUTOINCREMENT) STRICT;
INSERT INTO sqlite_sequence (name, seq) VALUES ('work_seq', CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
-- leases: a named queue is worked by the holder of its lease until it
-- expires (unix milliseconds).
CREATE TABLE leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
