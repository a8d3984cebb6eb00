-- 0014_sample_values_binary: new samples keep their sampled values in vbin,
-- a compact binary form (values.go), and '' in vals; rows written before
-- keep their JSON in vals (and NULL in vbin) and are read as before. Fewer
-- bytes per row are fewer pages per commit (#16).
ALTER TABLE meter_samples ADD COLUMN vbin BLOB;
