-- 0010_transaction_id_text: a transaction id is text, unique per charger
-- (#12): OCPP 2.0.1 stations name their transactions themselves, and two
-- chargers may each have a transaction "1". 1.6 transactions still draw
-- numbers from transaction_ids, stored in decimal.
ALTER TABLE sessions DROP CONSTRAINT IF EXISTS sessions_transaction_id_key;
ALTER TABLE sessions ALTER COLUMN transaction_id TYPE text USING transaction_id::text;
ALTER TABLE sessions ADD CONSTRAINT sessions_charger_transaction UNIQUE (charger_id, transaction_id);
ALTER TABLE meter_samples ALTER COLUMN transaction_id TYPE text USING transaction_id::text;
