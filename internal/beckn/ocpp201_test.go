package beckn_test

import (
	"math"
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/api"
)

// TestFlowWith201Station: a Beckn order served by an OCPP 2.0.1 station —
// the reservation (ReserveNow), the start (RequestStartTransaction), the
// status with telemetry and the stop (RequestStopTransaction) — ends
// COMPLETED with the energy the API shows for the session.
func TestFlowWith201Station(t *testing.T) {
	x := startSpeaking(t, "2.0.1")
	b := x.bap
	orderID, tx, confirmed := confirmOrder(t, b, "EVSE-1-1")
	want(t, "on_confirm", confirmed.Msg, map[string]any{"order/beckn:id": orderID, "order/beckn:orderStatus": "CONFIRMED"})
	in := b.answer(b.send("update", tx, updateMsg(orderID, "PENDING")))
	want(t, "on_update (start)", in.Msg, map[string]any{"order/beckn:id": orderID, "order/beckn:orderStatus": "INPROGRESS", session + "sessionStatus": "ACTIVE"})
	waitFor(t, "some energy", func() bool {
		var ss struct {
			Items []api.Session `json:"items"`
		}
		x.s.GetJSON("/api/v1/sessions?charger_id=EVSE-1&status=active", &ss)
		return len(ss.Items) == 1 && ss.Items[0].KWh > 0
	})
	in = b.answer(b.send("status", tx, orderRef(orderID)))
	want(t, "on_status", in.Msg, map[string]any{"order/beckn:id": orderID, "order/beckn:orderStatus": "INPROGRESS", session + "sessionStatus": "ACTIVE",
		session + "meteredEnergyKWh": nil, session + "chargingTelemetry/0/metrics/0/name": nil})
	b.answer(b.send("update", tx, updateMsg(orderID, "STOP")))
	done := b.wait("the on_update COMPLETED", func(in inbound) bool {
		return in.Action == "on_update" && get(in.Msg, strings.Split(session+"sessionStatus", "/")...) == "COMPLETED"
	})
	kwh, _ := get(done.Msg, strings.Split(session+"meteredEnergyKWh", "/")...).(float64)
	var ss struct {
		Items []api.Session `json:"items"`
	}
	// The reserved session is the one that charged (no leftover).
	x.s.GetJSON("/api/v1/sessions?charger_id=EVSE-1", &ss)
	if len(ss.Items) != 1 || ss.Items[0].Status != "completed" || ss.Items[0].KWh <= 0 || math.Abs(ss.Items[0].KWh-kwh) > 1e-3 {
		t.Fatalf("sessions %+v; Beckn says %v kWh; want the one completed session with that energy", ss.Items, kwh)
	}
}
