-- 0016_meter_journal: a session's samples are journalled, those of one
-- write transaction in one row of meter_journal, and copied later into
-- one row per session and round in meter_segments (journal.go). The
-- staging tables of 0015 wrote a row per sample twice (#16).
--
-- Samples still staged move into meter_samples here, where reads find
-- them as before: those of the inactive table at or after its cursor
-- (the rows before it are in meter_samples already), and all those of the
-- active one. Their ids came from one counter in the order stored.
INSERT INTO meter_samples (session_seq, charger_id, connector_id, transaction_id, ts, received_at, vals, vbin)
SELECT session_seq, charger_id, connector_id, transaction_id, ts, received_at, '', vbin FROM (
    SELECT s.* FROM meter_stage0 s, meter_stage_state t
    WHERE t.active = 0 OR (s.session_seq, s.id) >= (t.moved_seq, t.moved_id)
    UNION ALL
    SELECT s.* FROM meter_stage1 s, meter_stage_state t
    WHERE t.active = 1 OR (s.session_seq, s.id) >= (t.moved_seq, t.moved_id)
) ORDER BY id;

DROP TABLE meter_stage0;
DROP TABLE meter_stage1;
DROP TABLE meter_stage_state;

-- body: groups of (session seq, its samples); see journal.go.
CREATE TABLE meter_journal (
    id   INTEGER PRIMARY KEY,
    body BLOB NOT NULL
) STRICT;

-- A session's samples from journal rows after its previous segment's upto
-- up to upto, in the order stored.
-- Without rowid: one b-tree, in the order reads want.
CREATE TABLE meter_segments (
    session_seq INTEGER NOT NULL,
    upto        INTEGER NOT NULL,
    body        BLOB NOT NULL,
    PRIMARY KEY (session_seq, upto)
) STRICT, WITHOUT ROWID;
