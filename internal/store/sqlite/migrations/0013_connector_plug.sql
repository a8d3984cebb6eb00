-- 0013_connector_plug: a connector's plug as the charger described it (an
-- OCPP 2.0.1 station's device model: Connector.ConnectorType), in the
-- core's words (charging.PlugType), and whether it is a fixed cable; ''
-- and 0 when not described.
ALTER TABLE main.connectors ADD COLUMN plug TEXT NOT NULL DEFAULT '';
ALTER TABLE main.connectors ADD COLUMN cable INTEGER NOT NULL DEFAULT 0;
