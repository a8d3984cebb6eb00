package ocpp201

import (
	"encoding/json"
	"io/fs"
	"testing"

	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/ocpp/schematest"
)

// validPayloads are valid 2.0.1 payloads (checked in TestSchemas), also the
// fuzz test's seeds.
var validPayloads = map[string]string{
	"BootNotification":         `{"chargingStation":{"model":"M","vendorName":"V","serialNumber":"S1","firmwareVersion":"1.0","modem":{"iccid":"1","imsi":"2"}},"reason":"PowerUp"}`,
	"BootNotificationResponse": `{"currentTime":"2026-01-01T00:00:00Z","interval":300,"status":"Accepted"}`,
	"Heartbeat":                `{}`,
	"StatusNotification":       `{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Occupied","evseId":1,"connectorId":1}`,
	"Authorize":                `{"idToken":{"idToken":"04A2B3C4D5E6F7","type":"ISO14443"}}`,
	"AuthorizeResponse":        `{"idTokenInfo":{"status":"Accepted","groupIdToken":{"idToken":"G1","type":"Central"},"cacheExpiryDateTime":"2026-02-01T00:00:00Z"}}`,
	"TransactionEvent": `{"eventType":"Updated","timestamp":"2026-01-01T00:05:00Z","triggerReason":"MeterValuePeriodic","seqNo":3,"offline":false,"numberOfPhasesUsed":3,"cableMaxCurrent":32,"reservationId":7,
		"transactionInfo":{"transactionId":"tx-8f3a","chargingState":"Charging","remoteStartId":12},
		"idToken":{"idToken":"04A2B3C4D5E6F7","type":"ISO14443"},"evse":{"id":1,"connectorId":1},
		"meterValue":[{"timestamp":"2026-01-01T00:05:00Z","sampledValue":[{"value":12.345,"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","location":"Outlet","unitOfMeasure":{"unit":"kWh","multiplier":0},
		"signedMeterValue":{"signedMeterData":"AAEC","signingMethod":"ECDSA-secp256r1-SHA256","encodingMethod":"OCMF","publicKey":"pk"}},{"value":7200.5,"measurand":"Power.Active.Import","phase":"L1-N"}]}]}`,
	"TransactionEventResponse":      `{"totalCost":1.25,"chargingPriority":0,"idTokenInfo":{"status":"Accepted"},"updatedPersonalMessage":{"format":"UTF8","content":"hi"}}`,
	"MeterValues":                   `{"evseId":0,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":230.1,"measurand":"Voltage"}]}]}`,
	"RequestStartTransaction":       `{"evseId":1,"remoteStartId":42,"idToken":{"idToken":"ABC","type":"Central"}}`,
	"RequestStopTransaction":        `{"transactionId":"tx-8f3a"}`,
	"NotifyReport":                  `{"requestId":1,"generatedAt":"2026-01-01T00:00:00Z","seqNo":0,"tbc":false,"reportData":[{"component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"},"variableAttribute":[{"type":"Actual","value":"300","mutability":"ReadWrite"}],"variableCharacteristics":{"dataType":"integer","supportsMonitoring":false}}]}`,
	"SetVariables":                  `{"setVariableData":[{"attributeValue":"60","component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"}}]}`,
	"GetCertificateStatusResponse":  `{"status":"Failed","statusInfo":{"reasonCode":"NoProvider"}}`,
	"ReserveNow":                    `{"id":5,"expiryDateTime":"2026-01-01T01:00:00Z","idToken":{"idToken":"ABC","type":"ISO14443"},"evseId":1}`,
	"SecurityEventNotification":     `{"type":"FirmwareUpdated","timestamp":"2026-01-01T00:00:00Z"}`,
	"GetMonitoringReport":           `{"requestId":3,"monitoringCriteria":["ThresholdMonitoring"]}`,
	"Get15118EVCertificateResponse": `{"status":"Failed","exiResponse":""}`,
	"SetChargingProfile":            `{"evseId":0,"chargingProfile":{"id":1,"stackLevel":0,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Absolute","chargingSchedule":[{"id":1,"chargingRateUnit":"W","chargingSchedulePeriod":[{"startPeriod":0,"limit":11000.5}]}]}}`,
	"NotifyEVChargingNeedsResponse": `{"status":"Accepted"}`,
	"DataTransfer":                  `{"vendorId":"com.example","messageId":"x","data":{"any":[1,2]}}`,
}

func TestSchemas(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(Schemas(), "*.json")
	if len(files) != 128 {
		t.Fatalf("%d schemas embedded, want the 128 of OCPP 2.0.1", len(files))
	}
	for _, f := range files {
		if !v.Has(SchemaName(f)) {
			t.Errorf("%s not compiled as %s", f, SchemaName(f))
		}
	}
	for name, p := range validPayloads {
		if e := v.Validate(name, []byte(p)); e != nil {
			t.Errorf("%s: valid payload refused: %v", name, e)
		}
	}
	bad := []struct {
		name, payload string
		code          ocpp.ErrorCode
	}{
		{"TransactionEvent", `{"eventType":"Started","timestamp":"2026-01-01T00:00:00Z","triggerReason":"CablePluggedIn","seqNo":0}`, ocpp.OccurenceConstraintViolation},
		{"TransactionEvent", `{"eventType":"Begun","timestamp":"2026-01-01T00:00:00Z","triggerReason":"CablePluggedIn","seqNo":0,"transactionInfo":{"transactionId":"t"}}`, ocpp.PropertyConstraintViolation},
		{"TransactionEvent", `{"eventType":"Started","timestamp":"2026-01-01T00:00:00Z","triggerReason":"CablePluggedIn","seqNo":"0","transactionInfo":{"transactionId":"t"}}`, ocpp.TypeConstraintViolation},
		{"Authorize", `{"idToken":{"idToken":"0123456789012345678901234567890123456","type":"ISO14443"}}`, ocpp.PropertyConstraintViolation},
		{"Authorize", `{"idToken":{"idToken":"A","type":"ISO14443"},"extra":1}`, ocpp.FormationViolation},
		{"Heartbeat", `[]`, ocpp.FormationViolation},
	}
	for _, b := range bad {
		e := v.Validate(b.name, []byte(b.payload))
		if e == nil || e.Code != b.code {
			t.Errorf("%s %s: got %v, want %s", b.name, b.payload, e, b.code)
		}
		if got, want := ocpp.WireCode(Subprotocol, b.code), map[ocpp.ErrorCode]ocpp.ErrorCode{
			ocpp.FormationViolation: "FormatViolation", ocpp.OccurenceConstraintViolation: "OccurrenceConstraintViolation",
		}[b.code]; want != "" && got != want {
			t.Errorf("2.0.1 spells %s as %s, want %s", b.code, got, want)
		}
	}
}

// FuzzValidatorMatchesOracle holds the compiled 2.0.1 validator to the
// verdicts of a general JSON Schema implementation.
func FuzzValidatorMatchesOracle(f *testing.F) {
	v, err := NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	schematest.Fuzz(f, v, schematest.Oracle(f, Schemas(), SchemaName), validPayloads)
}

// TestFixedAnswersValidate checks the handler's fixed answers against the
// response schemas, and that every station action has a schema.
func TestFixedAnswersValidate(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for a := range stationActions {
		if !v.Has(a) || !v.Has(a+"Response") {
			t.Errorf("%s: no schema", a)
		}
		ans, ok := recordedAnswers[a]
		if !ok {
			ans = struct{}{}
		}
		switch a {
		case "BootNotification", "Heartbeat", "Authorize", "TransactionEvent", "DataTransfer", "Get15118EVCertificate", "GetCertificateStatus":
			continue // built per call, below or in the server test
		}
		b, _ := json.Marshal(ans)
		if e := v.Validate(a+"Response", b); e != nil {
			t.Errorf("%s answered %s: %v", a, b, e)
		}
	}
	for a, ans := range map[string]any{
		"Get15118EVCertificate": noCertificateProvider("Get15118EVCertificate"),
		"GetCertificateStatus":  noCertificateProvider("GetCertificateStatus"),
		"DataTransfer":          DataTransferConf{Status: "UnknownVendorId"},
		"TransactionEvent":      TransactionEventConf{IDTokenInfo: &IDTokenInfo{Status: "Accepted", GroupIDToken: &IDToken{IDToken: "P", Type: "Central"}}},
	} {
		b, _ := json.Marshal(ans)
		if e := v.Validate(a+"Response", b); e != nil {
			t.Errorf("%s answered %s: %v", a, b, e)
		}
	}
}

func TestCSMSActionsHaveSchemas(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range CSMSActions {
		if !v.Has(a) || !v.Has(a+"Response") {
			t.Errorf("%s: no schema", a)
		}
	}
	all := map[string]bool{}
	for _, a := range CSMSActions {
		all[a] = true
	}
	for a := range stationActions {
		all[a] = true // DataTransfer goes both ways
	}
	files, _ := fs.Glob(Schemas(), "*Request.json")
	if len(all) != len(files) {
		t.Errorf("%d CSMS or station actions, %d request schemas: every 2.0.1 message must be one or the other", len(all), len(files))
	}
}
