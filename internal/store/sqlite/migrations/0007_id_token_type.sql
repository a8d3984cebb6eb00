-- 0007_id_token_type: id tokens carry their type (OCPP 2.0.1 IdTokenEnumType:
-- ISO14443, ISO15693, eMAID, Central, KeyCode, Local, MacAddress,
-- NoAuthorization). Tags stored before were 1.6 RFID tags: ISO14443.
ALTER TABLE id_tags ADD COLUMN type TEXT NOT NULL DEFAULT 'ISO14443';
