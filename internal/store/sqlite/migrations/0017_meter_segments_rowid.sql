-- 0017_meter_segments_rowid: meter_segments becomes a rowid table with
-- its key (session_seq, upto) in an index. Keyed by session, every
-- segment a round wrote went into the middle of the b-tree, next to its
-- session's older segments, and SQLite rebalanced the leaf with its
-- siblings: each page of segments was written about four times to the WAL
-- (counted by TestSegmentPagesWrittenOnce). Rows that arrive in rowid
-- order are appended to the last leaf instead, and only the small index
-- entries land in the middle (#16).
CREATE TABLE meter_segments_new (
    id          INTEGER PRIMARY KEY,
    session_seq INTEGER NOT NULL,
    upto        INTEGER NOT NULL,
    body        BLOB NOT NULL
) STRICT;

INSERT INTO meter_segments_new (session_seq, upto, body)
SELECT session_seq, upto, body FROM meter_segments ORDER BY session_seq, upto;

DROP TABLE meter_segments;
ALTER TABLE meter_segments_new RENAME TO meter_segments;
CREATE UNIQUE INDEX meter_segments_session ON meter_segments (session_seq, upto);
