-- 0011_meter_version: the core folds MeterValues into a session's meter and
-- the store writes the result by the session's primary key over the
-- version it was folded from (compare and set, #12). Every write of
-- session_meter bumps version.
ALTER TABLE session_meter ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
