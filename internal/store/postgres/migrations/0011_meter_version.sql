-- 0011_meter_version: the core folds MeterValues into a session's meter and
-- the store writes the result by the session's primary key over the
-- version it was folded from (compare and set, #12). Every write of the
-- meter columns (last_register_wh, max_power_kw, last_power_kw/_at, soc/_at,
-- last_updated) bumps meter_version.
ALTER TABLE sessions ADD COLUMN meter_version bigint NOT NULL DEFAULT 0;
