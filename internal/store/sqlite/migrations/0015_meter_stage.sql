-- 0015_meter_stage: samples of a session are first appended to a small
-- staging table and moved into meter_samples later, a few at a time, by the
-- writer (stage.go). Appending to meter_samples directly wrote a page of
-- its per-session index for nearly every MeterValues once sessions had
-- samples (each lands on its own session's part of the index); a staging
-- table's index stays small, and a move writes many samples of one session
-- next to each other in meter_samples' index (#16).
--
-- There are two staging tables: new samples go to the active one
-- (meter_stage_state.active); the other, older one is moved in order of
-- (session_seq, id), and the rows below (moved_seq, moved_id) of it are
-- already in meter_samples and are ignored by readers. The move, the
-- cursor and, at the end, the emptying of the table happen in one
-- transaction each, so a reader (and a restart after kill -9) sees every
-- sample exactly once. Ids of both tables come from one counter (the
-- writer's), in the order samples were stored. Unattached samples (no
-- session) go to meter_samples directly.
CREATE TABLE meter_stage0 (
    id             INTEGER PRIMARY KEY,
    session_seq    INTEGER NOT NULL,
    charger_id     TEXT NOT NULL,
    connector_id   INTEGER NOT NULL,
    transaction_id TEXT,
    ts             INTEGER,
    received_at    INTEGER,
    vbin           BLOB NOT NULL
) STRICT;
CREATE INDEX meter_stage0_session ON meter_stage0 (session_seq);

CREATE TABLE meter_stage1 (
    id             INTEGER PRIMARY KEY,
    session_seq    INTEGER NOT NULL,
    charger_id     TEXT NOT NULL,
    connector_id   INTEGER NOT NULL,
    transaction_id TEXT,
    ts             INTEGER,
    received_at    INTEGER,
    vbin           BLOB NOT NULL
) STRICT;
CREATE INDEX meter_stage1_session ON meter_stage1 (session_seq);

CREATE TABLE meter_stage_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    active    INTEGER NOT NULL CHECK (active IN (0, 1)),
    moved_seq INTEGER NOT NULL,
    moved_id  INTEGER NOT NULL
) STRICT;
INSERT INTO meter_stage_state (id, active, moved_seq, moved_id) VALUES (1, 0, 0, 0);
