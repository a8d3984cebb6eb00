-- 0006_session_event_seq: a session's changes are numbered. Each store write
-- that changes a session bumps event_seq and appends a "session" event with
-- that number to event_log in the same transaction, so a consumer can tell
-- the order of one session's events and a repeat.
ALTER TABLE sessions ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
