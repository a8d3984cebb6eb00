package server_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/server"
)

// TestCommandPortDrivesTheSimulator sends every protocol-neutral command
// through the server's command port to a simulated 1.6 charger and checks
// both the answer in core terms and what the core then holds.
func TestCommandPortDrivesTheSimulator(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	cp := startSim(t, s, "SIM-PORT", "", nil)
	cmds := s.Commands()
	ctx := context.Background()
	session := func(id string) api.Session {
		t.Helper()
		var out api.Session
		if code := s.GetJSON("/api/v1/sessions/"+id, &out); code != http.StatusOK {
			t.Fatalf("GET session %s: HTTP %d", id, code)
		}
		return out
	}

	res, err := cmds.Reserve(ctx, charging.Reserve{ChargerID: "SIM-PORT", ConnectorID: 2, IDTag: "RES-1", ReservationID: 77, ExpiresAt: time.Now().Add(time.Hour), RequestedBy: "test"})
	if err != nil || res.Status != charging.CommandAccepted || res.SessionID == "" {
		t.Fatalf("Reserve = %+v, %v; want accepted with a session", res, err)
	}
	if got := session(res.SessionID).Status; got != charging.SessionReserved {
		t.Errorf("reserved session status = %s; want reserved", got)
	}
	if _, err := cmds.CancelReservation(ctx, charging.CancelReservation{ChargerID: "SIM-PORT", ReservationID: 77}); err != nil {
		t.Errorf("CancelReservation(77) = %v; want accepted", err)
	}
	_, err = cmds.CancelReservation(ctx, charging.CancelReservation{ChargerID: "SIM-PORT", ReservationID: 7777})
	var rej *charging.Rejection
	if !errors.Is(err, charging.ErrRejected) || !errors.As(err, &rej) || rej.Result.Status != charging.CommandUnknown {
		t.Errorf("CancelReservation(7777) = %v; want a rejection with status unknown", err)
	}

	res, err = cmds.StartCharging(ctx, charging.StartCharging{ChargerID: "SIM-PORT", ConnectorID: 1, IDTag: "T-1", RequestedBy: "test"})
	if err != nil || res.SessionID == "" {
		t.Fatalf("StartCharging = %+v, %v; want accepted with the pending session", res, err)
	}
	sid := res.SessionID
	waitFor(t, "the remote start to become active", func() bool { return session(sid).Status == charging.SessionActive })
	// The session is active once stored, which is before the charger has
	// read its transaction id in the answer: a TxProfile sent in between
	// is rejected as for an unknown transaction.
	waitFor(t, "the charger to know its transaction", func() bool { return cp.Charging(1) })

	res, err = cmds.SetChargingLimit(ctx, charging.ChargingLimit{ChargerID: "SIM-PORT", ConnectorID: 1, Purpose: charging.LimitTransaction, Limit: 7400, Unit: charging.LimitWatts})
	if err != nil || res.SessionID != sid {
		t.Errorf("SetChargingLimit(transaction) = %+v, %v; want accepted for session %s", res, err, sid)
	}
	if _, err := cmds.SetChargingLimit(ctx, charging.ChargingLimit{ChargerID: "SIM-PORT", Purpose: charging.LimitDefault, Limit: 16, Unit: charging.LimitAmps}); err != nil {
		t.Errorf("SetChargingLimit(default) = %v; want accepted", err)
	}
	if _, err := cmds.SetChargingLimit(ctx, charging.ChargingLimit{ChargerID: "SIM-PORT", ConnectorID: 2, Purpose: charging.LimitTransaction, Limit: 16, Unit: charging.LimitAmps}); !errors.Is(err, charging.ErrConflict) {
		t.Errorf("SetChargingLimit on a connector without a transaction = %v; want ErrConflict", err)
	}
	if _, err := cmds.SetChargingLimit(ctx, charging.ChargingLimit{ChargerID: "SIM-PORT", Purpose: charging.LimitDefault, Limit: 16, Unit: "kW"}); !errors.Is(err, charging.ErrInvalidInput) {
		t.Errorf("SetChargingLimit in kW = %v; want ErrInvalidInput", err)
	}

	if _, err := cmds.StopCharging(ctx, charging.StopCharging{SessionID: sid, RequestedBy: "test"}); err != nil {
		t.Fatalf("StopCharging = %v; want accepted", err)
	}
	waitFor(t, "the session to complete", func() bool { return session(sid).Status == charging.SessionCompleted })
	if _, err := cmds.StopCharging(ctx, charging.StopCharging{SessionID: sid}); !errors.Is(err, charging.ErrConflict) {
		t.Errorf("StopCharging of a completed session = %v; want ErrConflict", err)
	}
	if _, err := cmds.StopCharging(ctx, charging.StopCharging{SessionID: "no-such-session"}); !errors.Is(err, charging.ErrNotFound) {
		t.Errorf("StopCharging of an unknown session = %v; want ErrNotFound", err)
	}

	if _, err := cmds.Unlock(ctx, charging.Unlock{ChargerID: "SIM-PORT", ConnectorID: 2}); err != nil {
		t.Errorf("Unlock(2) = %v; want accepted", err)
	}
	if _, err := cmds.Unlock(ctx, charging.Unlock{ChargerID: "SIM-PORT"}); !errors.Is(err, charging.ErrInvalidInput) {
		t.Errorf("Unlock without a connector = %v; want ErrInvalidInput", err)
	}
	if _, err := cmds.ChangeAvailability(ctx, charging.ChangeAvailability{ChargerID: "SIM-PORT", ConnectorID: 2, Operative: false}); err != nil {
		t.Errorf("ChangeAvailability(2, inoperative) = %v; want accepted", err)
	}
	if _, err := cmds.ChangeAvailability(ctx, charging.ChangeAvailability{ChargerID: "SIM-PORT", ConnectorID: 2, Operative: true}); err != nil {
		t.Errorf("ChangeAvailability(2, operative) = %v; want accepted", err)
	}
	if _, err := cmds.Reset(ctx, charging.Reset{ChargerID: "SIM-PORT"}); err != nil {
		t.Errorf("Reset(soft) = %v; want accepted", err)
	}
	if _, err := cmds.StartCharging(ctx, charging.StartCharging{ChargerID: "NOPE", IDTag: "T"}); !errors.Is(err, charging.ErrNotConnected) {
		t.Errorf("StartCharging at a charger that is not connected = %v; want ErrNotConnected", err)
	}
}

// TestActionEndpoints drives the operator API's protocol-neutral actions
// (what the CLI and dashboard use) against a simulated charger.
func TestActionEndpoints(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	cp := startSim(t, s, "SIM-ACT", "", nil)
	var res charging.CommandResult
	if code := s.PostJSON("/api/v1/chargers/SIM-ACT/actions/start", map[string]any{"connector_id": 1, "id_tag": "ACT-1"}, &res); code != http.StatusOK || res.SessionID == "" {
		t.Fatalf("start: HTTP %d %+v; want 200 with a session", code, res)
	}
	sid := res.SessionID
	waitFor(t, "the session to be active", func() bool {
		var x api.Session
		s.GetJSON("/api/v1/sessions/"+sid, &x)
		return x.Status == charging.SessionActive
	})
	waitFor(t, "the charger to know its transaction", func() bool { return cp.Charging(1) })
	tests := []struct {
		name, path string
		body       any
		want       int
	}{
		{"limit", "/api/v1/chargers/SIM-ACT/actions/set-charging-limit", map[string]any{"connector_id": 1, "purpose": "transaction", "limit": 16, "unit": "A"}, http.StatusOK},
		{"limit-in-kw", "/api/v1/chargers/SIM-ACT/actions/set-charging-limit", map[string]any{"purpose": "default", "limit": 16, "unit": "kW"}, http.StatusBadRequest},
		{"unlock-without-connector", "/api/v1/chargers/SIM-ACT/actions/unlock", map[string]any{}, http.StatusBadRequest},
		{"unknown-action", "/api/v1/chargers/SIM-ACT/actions/explode", map[string]any{}, http.StatusNotFound},
		{"unregistered-charger", "/api/v1/chargers/NOPE/actions/reset", map[string]any{}, http.StatusNotFound},
		{"cancel-unknown-reservation", "/api/v1/chargers/SIM-ACT/actions/cancel-reservation", map[string]any{"reservation_id": 9}, http.StatusConflict},
		{"stop", "/api/v1/sessions/" + sid + "/stop", map[string]any{}, http.StatusOK},
		{"stop-unknown-session", "/api/v1/sessions/nope/stop", map[string]any{}, http.StatusNotFound},
		{"availability", "/api/v1/chargers/SIM-ACT/actions/change-availability", map[string]any{"connector_id": 2, "operative": true}, http.StatusOK},
		{"reset", "/api/v1/chargers/SIM-ACT/actions/reset", map[string]any{"hard": false}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out map[string]any
			if code := s.PostJSON(tt.path, tt.body, &out); code != tt.want {
				t.Errorf("POST %s: HTTP %d %v; want %d", tt.path, code, out, tt.want)
			}
		})
	}
}

// TestCommandEffectsUseTheServersClock: what an answered command records
// (here an availability request) is stamped by the injected clock, not the
// machine's.
func TestCommandEffectsUseTheServersClock(t *testing.T) {
	at := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.WithClock(cbtest.NewClock(at)))
	runSim(t, s, "SIM-CLOCK")
	if _, err := s.Commands().ChangeAvailability(context.Background(), charging.ChangeAvailability{ChargerID: "SIM-CLOCK", ConnectorID: 1, Operative: false}); err != nil {
		t.Fatalf("ChangeAvailability: %v", err)
	}
	var out struct {
		Items []struct {
			RequestedAt time.Time `json:"requested_at"`
		} `json:"items"`
	}
	if code := s.GetJSON("/api/v1/chargers/SIM-CLOCK/availability", &out); code != http.StatusOK || len(out.Items) != 1 {
		t.Fatalf("availability requests: HTTP %d, %d items; want one", code, len(out.Items))
	}
	if got := out.Items[0].RequestedAt; !got.Equal(at) {
		t.Errorf("requested_at = %s; want the server clock's %s", got, at)
	}
}
