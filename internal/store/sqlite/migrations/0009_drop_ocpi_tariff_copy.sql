-- 0009_drop_ocpi_tariff_copy: OCPI kept its own copy of the operator's
-- tariffs (documents of kind ocpi_tariff, refreshed by a 30 s poll). The
-- Tariffs module now reads the pricing catalog (kind tariff) and pushes its
-- changes from TariffChanged events, so the copy goes.
DELETE FROM docs WHERE kind = 'ocpi_tariff';
