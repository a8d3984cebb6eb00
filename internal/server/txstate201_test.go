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

// TestTransactionEventStateSurvivesReconnect: an Updated's samples and
// the seqNo that marks them applied are stored in one write; after a
// reconnection (the connection's cache is gone, the stored state is read)
// a repeat of that Updated is answered and not applied again, and the
// next one is.
func TestTransactionEventStateSurvivesReconnect(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	dial := func() *cbtest.Client {
		st, err := cbtest.DialURL(t, s.WSURL()+"/RC201", "ocpp2.0.1")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "RC201 to be registered", func() bool { return s.OCPP().Connected("RC201") })
		st.MustCall("BootNotification", json.RawMessage(`{"chargingStation":{"model":"M","vendorName":"V"},"reason":"PowerUp"}`), nil)
		return st
	}
	ev := func(typ string, seq int, kwh float64, extra string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"eventType":%q,"timestamp":"2026-01-01T10:%02d:00Z","triggerReason":"MeterValuePeriodic","seqNo":%d,
			"transactionInfo":{"transactionId":"RC-1"%s},"meterValue":[{"timestamp":"2026-01-01T10:%02d:00Z","sampledValue":[{"value":%g,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"kWh"}}]}]%s}`,
			typ, seq, seq, map[bool]string{true: `,"stoppedReason":"Local"`}[typ == "Ended"], seq, kwh, extra))
	}
	st := dial()
	answerBaseReport(t, st)
	st.MustCall("TransactionEvent", ev("Started", 0, 10, `,"idToken":{"idToken":"RC","type":"ISO14443"},"evse":{"id":1,"connectorId":1}`), nil)
	st.MustCall("TransactionEvent", ev("Updated", 1, 11, ""), nil)
	st.Close()
	waitFor(t, "RC201 to be gone", func() bool { return !s.OCPP().Connected("RC201") })

	st = dial()
	st.MustCall("TransactionEvent", ev("Updated", 1, 99, ""), nil) // a repeat: not applied
	st.MustCall("TransactionEvent", ev("Updated", 2, 12, ""), nil)
	st.MustCall("TransactionEvent", ev("Ended", 3, 13, ""), nil)

	var list struct{ Items []api.Session }
	if code := s.GetJSON("/api/v1/sessions?charger_id=RC201", &list); code != 200 || len(list.Items) != 1 {
		t.Fatalf("sessions: %d %+v", code, list.Items)
	}
	var one api.Session
	s.GetJSON("/api/v1/sessions/"+list.Items[0].ID, &one)
	if one.Status != "completed" || math.Abs(one.KWh-3) > 1e-9 || len(one.Samples) != 4 {
		t.Errorf("session %+v with %d samples; want completed, 3 kWh, 4 samples (Started, 1, 2, Ended; the repeat not kept)", one, len(one.Samples))
	}
}
