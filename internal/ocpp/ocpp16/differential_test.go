package ocpp16

import (
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/ocpp/schematest"
)

var seedPayloads = map[string]string{
	"BootNotification":                   `{"chargePointVendor":"V","chargePointModel":"M","firmwareVersion":"1.0"}`,
	"StartTransaction":                   `{"connectorId":1,"idTag":"ABC","meterStart":0,"timestamp":"2026-01-01T00:00:00Z","reservationId":3}`,
	"MeterValues":                        `{"connectorId":1,"transactionId":42,"meterValue":[{"timestamp":"2026-11-21T10:00:00Z","sampledValue":[{"value":"12345","measurand":"Energy.Active.Import.Register","unit":"Wh","context":"Sample.Periodic","location":"Outlet","phase":"L1","format":"Raw"}]}]}`,
	"StatusNotification":                 `{"connectorId":1,"errorCode":"NoError","status":"Charging","timestamp":"2026-01-01T00:00:00Z","info":"x","vendorId":"v","vendorErrorCode":"e"}`,
	"StopTransaction":                    `{"transactionId":1,"meterStop":10,"timestamp":"2026-01-01T00:00:00Z","reason":"EVDisconnected","idTag":"A","transactionData":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":"1"}]}]}`,
	"SetChargingProfile":                 `{"connectorId":1,"csChargingProfiles":{"chargingProfileId":1,"stackLevel":0,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Absolute","chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16.1}],"minChargingRate":6.0}}}`,
	"GetInstalledCertificateIdsResponse": `{"status":"Accepted","certificateHashData":[{"hashAlgorithm":"SHA256","issuerNameHash":"a","issuerKeyHash":"b","serialNumber":"c"}]}`,
	"Heartbeat":                          `{}`,
}

// FuzzValidatorMatchesOracle feeds the same payload to our validator and to
// a general JSON Schema implementation; they must agree on valid versus
// invalid.
func FuzzValidatorMatchesOracle(f *testing.F) {
	v, err := NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	or := schematest.Oracle(f, Schemas(), func(file string) string { return strings.TrimSuffix(file, ".json") })
	schematest.Fuzz(f, v, or, seedPayloads)
}
