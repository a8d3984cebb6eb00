package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
)

// TestTransactionEventSeqNoGap: a TransactionEvent whose seqNo skips is
// applied and the gap recorded once as a tolerated violation; a repeat is
// answered and not applied again (its register, were it applied, would
// show in the samples); the late event that fills the gap is applied.
func TestTransactionEventSeqNoGap(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	st, err := cbtest.DialURL(t, s.WSURL()+"/GAP201", "ocpp2.0.1")
	if err != nil {
		t.Fatal(err)
	}
	st.MustCall("BootNotification", json.RawMessage(`{"chargingStation":{"model":"M","vendorName":"V"},"reason":"PowerUp"}`), nil)
	answerBaseReport(t, st)
	ev := func(typ string, seq int, kwh float64, extra string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"eventType":%q,"timestamp":"2026-01-01T10:%02d:00Z","triggerReason":"MeterValuePeriodic","seqNo":%d,
			"transactionInfo":{"transactionId":"GAP-1"%s},"meterValue":[{"timestamp":"2026-01-01T10:%02d:00Z","sampledValue":[{"value":%g,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"kWh"}}]}]%s}`,
			typ, seq, seq, map[bool]string{true: `,"stoppedReason":"Local"`}[typ == "Ended"], seq, kwh, extra))
	}
	st.MustCall("TransactionEvent", ev("Started", 0, 10, `,"idToken":{"idToken":"GAP","type":"ISO14443"},"evse":{"id":1,"connectorId":1}`), nil)
	st.MustCall("TransactionEvent", ev("Updated", 2, 12, ""), nil) // seqNo 1 is missing
	st.MustCall("TransactionEvent", ev("Updated", 2, 99, ""), nil) // a repeat of 2: not applied
	st.MustCall("TransactionEvent", ev("Updated", 1, 11, ""), nil) // the late 1 fills the gap
	st.MustCall("TransactionEvent", ev("Ended", 3, 13.5, ""), nil)

	var list struct{ Items []api.Session }
	if code := s.GetJSON("/api/v1/sessions?charger_id=GAP201", &list); code != 200 || len(list.Items) != 1 {
		t.Fatalf("sessions: %d %+v", code, list.Items)
	}
	got := list.Items[0]
	var one api.Session
	s.GetJSON("/api/v1/sessions/"+got.ID, &one)
	if got.Status != "completed" || math.Abs(got.KWh-3.5) > 1e-9 || len(one.Samples) != 4 {
		t.Errorf("session %+v with %d samples; want completed, 3.5 kWh, 4 samples (Started, 2, 1, Ended; the repeat not kept)", got, len(one.Samples))
	}
	vs, err := s.Service().Violations(context.Background(), "GAP201")
	if err != nil {
		t.Fatal(err)
	}
	gaps := 0
	for _, v := range vs {
		if v.Kind == "seqno-gap" {
			gaps += int(v.Count)
			if v.Outcome != "tolerated" {
				t.Errorf("seqno-gap recorded as %s; want tolerated", v.Outcome)
			}
		}
	}
	if gaps != 1 {
		t.Errorf("seqno-gap violations: %d (%+v); want 1", gaps, vs)
	}
}
