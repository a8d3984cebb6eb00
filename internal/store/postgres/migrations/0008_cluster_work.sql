-- 0008_cluster_work: what nodes sharing the database need to do work once.
-- work_seq numbers work (OCPI outbox entries) so no two nodes draw the same
-- number; it starts at the microseconds since the epoch so that numbers
-- drawn before (the outbox's wall-clock sequence) stay smaller.
CREATE SEQUENCE work_seq;
SELECT setval('work_seq', greatest(1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint));
-- leases: a named queue (an OCPI party's pushes) is worked by the holder of
-- its lease until it expires (on the database's clock).
CREATE TABLE leases (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);
