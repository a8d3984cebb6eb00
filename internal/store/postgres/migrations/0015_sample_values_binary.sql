-- 0015_sample_values_binary: new samples keep their sampled values in vbin,
-- in the binary form of package sampled (the SQLite store's since its
-- 0014), and NULL in vals; rows written before keep their JSON in vals (and
-- NULL in vbin) and are read as before. A typical MeterValues row shrinks
-- from about 730 bytes of values to about 110, and PostgreSQL no longer
-- parses JSON on every insert (#16).
ALTER TABLE meter_samples ADD COLUMN vbin bytea, ALTER COLUMN vals DROP NOT NULL;
