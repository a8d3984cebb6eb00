package server_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
)

// TestTransactionEventAnsweredOnCommit: a 2.0.1 station's Updated events
// with samples are answered by the store once durable, as 1.6
// MeterValues are (no goroutine waits for the commit, #16), and what
// they carried is applied once each, in order, by the answers' time.
func TestTransactionEventAnsweredOnCommit(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	st, err := cbtest.DialURL(t, s.WSURL()+"/AC201", "ocpp2.0.1")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "AC201 to be registered", func() bool { return s.OCPP().Connected("AC201") })
	st.MustCall("BootNotification", json.RawMessage(`{"chargingStation":{"model":"M","vendorName":"V"},"reason":"PowerUp"}`), nil)
	answerBaseReport(t, st)
	ev := func(typ string, seq int, kwh float64, extra string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"eventType":%q,"timestamp":"2026-01-01T10:%02d:00Z","triggerReason":"MeterValuePeriodic","seqNo":%d,
			"transactionInfo":{"transactionId":"AC-1"},"meterValue":[{"timestamp":"2026-01-01T10:%02d:00Z","sampledValue":[{"value":%g,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"kWh"}}]}]%s}`,
			typ, seq, seq, seq, kwh, extra))
	}
	st.MustCall("TransactionEvent", ev("Started", 0, 10, `,"idToken":{"idToken":"AC","type":"ISO14443"},"evse":{"id":1,"connectorId":1}`), nil)
	stats := s.OCPP().Stats()
	before := stats.AnsweredOnCommit.Load()
	const updates = 5
	for i := 1; i <= updates; i++ {
		var conf map[string]any
		st.MustCall("TransactionEvent", ev("Updated", i, 10+float64(i), ""), &conf)
		if len(conf) != 0 {
			t.Errorf("Updated %d answered %v; want {}", i, conf)
		}
	}
	st.MustCall("TransactionEvent", ev("Updated", updates, 99, ""), nil) // a repeat: answered, not applied
	if got := stats.AnsweredOnCommit.Load() - before; got != updates {
		t.Errorf("%d of %d Updated events with samples answered on commit; want all", got, updates)
	}

	var list struct{ Items []api.Session }
	if code := s.GetJSON("/api/v1/sessions?charger_id=AC201", &list); code != 200 || len(list.Items) != 1 {
		t.Fatalf("sessions: %d %+v", code, list.Items)
	}
	var one api.Session
	s.GetJSON("/api/v1/sessions/"+list.Items[0].ID, &one)
	if math.Abs(one.KWh-updates) > 1e-9 || len(one.Samples) != updates+1 {
		t.Errorf("session %+v with %d samples; want %d kWh, %d samples (the repeat not kept)", one, len(one.Samples), updates, updates+1)
	}
}
