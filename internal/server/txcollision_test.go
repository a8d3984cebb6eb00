package server_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/server"
)

// TestTransactionIDOfAnotherProtocol: a charger ran OCPP 1.6 (the server
// gave its transaction the number n), then speaks 2.0.1 and names its own
// transaction "n" too. The 2.0.1 transaction is accepted (it got
// ErrExists, a CALLERROR, before) and kept under a namespaced id; its
// events reach its own session, and the 1.6 session is left alone.
func TestTransactionIDOfAnotherProtocol(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	dial := func(protocol string) *cbtest.Client {
		c, err := cbtest.DialURL(t, s.WSURL()+"/SWITCH-1", protocol)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "SWITCH-1 to be connected", func() bool { return s.OCPP().Connected("SWITCH-1") })
		return c
	}
	old := dial("ocpp1.6")
	old.MustCall("BootNotification", map[string]string{"chargePointVendor": "V", "chargePointModel": "M"}, nil)
	var started struct {
		TransactionID int64 `json:"transactionId"`
	}
	old.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "OLD", "meterStart": 1000, "timestamp": "2026-01-01T09:00:00Z"}, &started)
	old.MustCall("StopTransaction", map[string]any{"transactionId": started.TransactionID, "meterStop": 3000, "timestamp": "2026-01-01T09:30:00Z"}, nil)
	old.Close()
	waitFor(t, "SWITCH-1 to be gone", func() bool { return !s.OCPP().Connected("SWITCH-1") })

	txID := fmt.Sprint(started.TransactionID)
	st := dial("ocpp2.0.1")
	st.MustCall("BootNotification", json.RawMessage(`{"chargingStation":{"model":"M","vendorName":"V"},"reason":"PowerUp"}`), nil)
	answerBaseReport(t, st)
	ev := func(typ string, seq int, kwh float64, extra string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"eventType":%q,"timestamp":"2026-01-01T10:%02d:00Z","triggerReason":"MeterValuePeriodic","seqNo":%d,
			"transactionInfo":{"transactionId":%q%s},"meterValue":[{"timestamp":"2026-01-01T10:%02d:00Z","sampledValue":[{"value":%g,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"kWh"}}]}]%s}`,
			typ, seq, seq, txID, map[bool]string{true: `,"stoppedReason":"Local"`}[typ == "Ended"], seq, kwh, extra))
	}
	st.MustCall("TransactionEvent", ev("Started", 0, 10, `,"idToken":{"idToken":"NEW","type":"ISO14443"},"evse":{"id":1,"connectorId":1}`), nil)
	st.MustCall("TransactionEvent", ev("Updated", 1, 12, ""), nil)

	// A remote stop of the 2.0.1 session names the station's own id.
	var list struct{ Items []api.Session }
	s.GetJSON("/api/v1/sessions?charger_id=SWITCH-1&status=active", &list)
	if len(list.Items) != 1 || list.Items[0].IDTag != "NEW" {
		t.Fatalf("active sessions of SWITCH-1: %+v; want the 2.0.1 one", list.Items)
	}
	stopped := make(chan int, 1)
	go func() { stopped <- s.PostJSON("/api/v1/sessions/"+list.Items[0].ID+"/stop", nil, nil) }()
	var call []json.RawMessage
	if err := json.Unmarshal(st.MustRead(), &call); err != nil || len(call) != 4 || string(call[2]) != `"RequestStopTransaction"` {
		t.Fatalf("after a stop the station got %s; want RequestStopTransaction", call)
	}
	var req struct {
		TransactionID string `json:"transactionId"`
	}
	if err := json.Unmarshal(call[3], &req); err != nil || req.TransactionID != txID {
		t.Errorf("RequestStopTransaction names %q, %v; want the station's own id %q", req.TransactionID, err, txID)
	}
	st.SendRaw(`[3,` + string(call[1]) + `,{"status":"Accepted"}]`)
	if code := <-stopped; code != 200 {
		t.Errorf("stop: HTTP %d; want 200", code)
	}
	st.MustCall("TransactionEvent", ev("Ended", 2, 14, ""), nil)

	if code := s.GetJSON("/api/v1/sessions?charger_id=SWITCH-1", &list); code != 200 || len(list.Items) != 2 {
		t.Fatalf("sessions of SWITCH-1: %d %+v; want the 1.6 and the 2.0.1 one", code, list.Items)
	}
	byTag := map[string]api.Session{}
	for _, x := range list.Items {
		byTag[x.IDTag] = x
	}
	if o := byTag["OLD"]; o.TransactionID != txID || o.Status != charging.SessionCompleted || o.KWh != 2 {
		t.Errorf("the 1.6 session: tx %q %s %v kWh; want %s completed 2 kWh", o.TransactionID, o.Status, o.KWh, txID)
	}
	if n := byTag["NEW"]; n.TransactionID != txID+"@ocpp2.0.1" || n.Status != charging.SessionCompleted || n.KWh != 4 {
		t.Errorf("the 2.0.1 session: tx %q %s %v kWh; want %s@ocpp2.0.1 completed 4 kWh", n.TransactionID, n.Status, n.KWh, txID)
	}
}
