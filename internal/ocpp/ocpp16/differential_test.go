package ocpp16

import (
	"bytes"
	"io/fs"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// oracle compiles the same schemas with a general JSON Schema
// implementation, to hold our compiled validator to its verdicts.
func oracle(t testing.TB) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.RegisterFormat(&jsonschema.Format{Name: "date-time", Validate: func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		_, _, err := ocpp.ParseTimestamp(s)
		return err
	}})
	names, _ := fs.Glob(Schemas(), "*.json")
	out := map[string]*jsonschema.Schema{}
	for _, n := range names {
		b, _ := fs.ReadFile(Schemas(), n)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		m := doc.(map[string]any)
		delete(m, "id")
		delete(m, "$id")
		if err := c.AddResource("file:///"+n, doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile("file:///" + n)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(n, ".json")] = s
	}
	return out
}

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
// the general implementation; they must agree on valid versus invalid.
func FuzzValidatorMatchesOracle(f *testing.F) {
	v, err := NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	or := oracle(f)
	actions := make([]string, 0, len(or))
	for a := range or {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	for a, p := range seedPayloads {
		f.Add(uint16(sort.SearchStrings(actions, a)), []byte(p))
	}
	f.Add(uint16(0), []byte(`{"connectorId":1.0}`))
	f.Add(uint16(0), []byte(`{"a":1} x`))
	f.Fuzz(func(t *testing.T, which uint16, payload []byte) {
		action := actions[int(which)%len(actions)]
		ours := v.Validate(action, payload)
		if ours != nil && strings.Contains(ours.Description, "appears twice") {
			return // we refuse repeated properties; a general decoder keeps the last
		}
		if bytes.Count(payload, []byte("["))+bytes.Count(payload, []byte("{")) > 60 {
			return // we bound nesting depth
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
		theirs := err
		if err == nil {
			theirs = or[action].Validate(doc)
		}
		if (ours == nil) != (theirs == nil) {
			t.Fatalf("%s %s: ours %v; oracle %v", action, payload, ours, theirs)
		}
	})
}
