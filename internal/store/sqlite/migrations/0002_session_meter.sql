-- 0002_session_meter: what MeterValues change moves out of sessions into a
-- narrow table, and the samples index loses its timestamp. A group commit of
-- many chargers' MeterValues then dirties fewer pages: the rows of the
-- sessions it updates sit on a few pages of session_meter instead of across
-- the wide sessions table, and more sessions' newest index entries share a
-- page. The samples of a session are sorted by time when read.

CREATE TABLE session_meter (
    seq              INTEGER PRIMARY KEY REFERENCES sessions (seq),
    last_register_wh REAL NOT NULL,
    max_power_kw     REAL NOT NULL DEFAULT 0,
    last_power_kw    REAL,
    last_power_at    INTEGER,
    soc              REAL,
    soc_at           INTEGER,
    last_updated     INTEGER
) STRICT;

INSERT INTO session_meter (seq, last_register_wh, max_power_kw, last_power_kw, last_power_at, soc, soc_at, last_updated)
SELECT seq, last_register_wh, max_power_kw, last_power_kw, last_power_at, soc, soc_at, last_updated FROM sessions;

ALTER TABLE sessions DROP COLUMN last_register_wh;
ALTER TABLE sessions DROP COLUMN max_power_kw;
ALTER TABLE sessions DROP COLUMN last_power_kw;
ALTER TABLE sessions DROP COLUMN last_power_at;
ALTER TABLE sessions DROP COLUMN soc;
ALTER TABLE sessions DROP COLUMN soc_at;
ALTER TABLE sessions DROP COLUMN last_updated;

DROP INDEX meter_samples_session;
CREATE INDEX meter_samples_session ON meter_samples (session_seq)
    WHERE session_seq IS NOT NULL;
