-- 0013_connector_plug: a connector's plug as the charger described it (an
-- OCPP 2.0.1 station's device model: Connector.ConnectorType), in the
-- core's words (charging.PlugType), and whether it is a fixed cable; ''
-- and false when not described.
ALTER TABLE connectors ADD COLUMN plug text NOT NULL DEFAULT '';
ALTER TABLE connectors ADD COLUMN cable boolean NOT NULL DEFAULT false;
