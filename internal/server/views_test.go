package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/beckn"
	"github.com/chargebridge/chargebridge/internal/beckn/evsession"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/server"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from golden:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestSessionViews(t *testing.T) {
	clock := cbtest.NewClock(time.Date(2026, 11, 21, 11, 0, 7, 0, time.UTC))
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.WithClock(clock), cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	c := s.MustDial("CP-VIEW")
	boot(t, c)
	c.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Finishing", "timestamp": "2026-11-21T11:00:06Z"}, nil)
	var start startConf
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "04A2B3C4", "meterStart": 1000, "timestamp": "2026-11-21T10:00:00Z"}, &start)
	// The 1.6 StopTransaction of DESIGN.md: meterStop in Wh, a reason and
	// transactionData sampled values (here without measurand or unit on the
	// begin value, so the defaults apply).
	stop := `{"transactionId":` + itoa(start.TransactionID) + `,"idTag":"04A2B3C4","meterStop":23500,"timestamp":"2026-11-21T11:00:00Z","reason":"EVDisconnected",
	 "transactionData":[
	  {"timestamp":"2026-11-21T10:00:00Z","sampledValue":[{"value":"1000","context":"Transaction.Begin"}]},
	  {"timestamp":"2026-11-21T10:30:00Z","sampledValue":[{"value":"12.1","unit":"kWh","measurand":"Energy.Active.Import.Register"},{"value":"22000","unit":"W","measurand":"Power.Active.Import"},{"value":"32","unit":"A","measurand":"Current.Import"},{"value":"229.5","unit":"V","measurand":"Voltage"},{"value":"61","unit":"Percent","measurand":"SoC","location":"EV"}]},
	  {"timestamp":"2026-11-21T11:00:00Z","sampledValue":[{"value":"23500","context":"Transaction.End"},{"value":"0","unit":"W","measurand":"Power.Active.Import","context":"Transaction.End"},{"value":"92","unit":"Percent","measurand":"SoC","location":"EV","context":"Transaction.End"}]}
	 ]}`
	var stopPayload map[string]any
	if err := json.Unmarshal([]byte(stop), &stopPayload); err != nil {
		t.Fatal(err)
	}
	c.MustCall("StopTransaction", stopPayload, nil)

	ctx := context.Background()
	st := s.Service().Store()
	sess, err := st.SessionByTransaction(ctx, "CP-VIEW", itoa(start.TransactionID))
	if err != nil {
		t.Fatal(err)
	}
	samples, err := st.SessionSamples(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := st.GetCharger(ctx, "CP-VIEW")
	if err != nil {
		t.Fatal(err)
	}
	sess.ID = "3b1f0a52-session-id" // random per run; fixed for the golden

	o := ocpi.SessionView(sess, ocpi.SessionContext{CPO: ocpi.Party{CountryCode: "NL", PartyID: "CBR"}, LocationID: "LOC-1"})
	ob, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "session_ocpi.json", append(ob, '\n'))
	var generic map[string]any
	_ = json.Unmarshal(ob, &generic)
	for _, f := range []string{"country_code", "party_id", "id", "start_date_time", "kwh", "cdr_token", "auth_method", "location_id", "evse_uid", "connector_id", "currency", "status", "last_updated"} {
		if _, ok := generic[f]; !ok {
			t.Errorf("OCPI Session lacks required field %s", f)
		}
	}
	if o.KWh != 22.5 || o.Status != ocpi.SessionCompleted {
		t.Fatalf("OCPI session kwh %v status %s; want 22.5 COMPLETED", o.KWh, o.Status)
	}

	b, err := beckn.SessionView(sess, samples, beckn.SessionContext{Connector: &ch.Connectors[0], Now: clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	bb, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "session_beckn.json", append(bb, '\n'))
	v, err := evsession.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(bb); err != nil {
		t.Fatalf("Beckn view does not validate against our EvChargingSession schema: %v", err)
	}
	if *b.MeteredEnergyKWh != 22.5 || *b.MeteredDurationMinutes != 60 || b.SessionStatus != evsession.StatusCompleted || *b.MaxPowerKW != 22 {
		t.Fatalf("Beckn view = %+v; want 22.5 kWh, 60 min, COMPLETED, 22 kW", b)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
