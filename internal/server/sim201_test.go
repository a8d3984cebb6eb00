package server_test

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/beckn"
	"github.com/chargebridge/chargebridge/internal/beckn/evsession"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// TestSimulated201Station: the simulator's 2.0.1 station beside a 1.6
// charger on one server. Every message it sends passes the server's 2.0.1
// schemas (a refusal would be a CALLERROR, counted in its stats); the
// neutral commands reach it and it answers them; a remote-started session
// runs on TransactionEvents and its kWh, in the API, is the same in the
// OCPI Session and the Beckn EvChargingSession views.
func TestSimulated201Station(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	run := func(id, protocol string) *sim.Charger {
		ch, err := sim.NewCharger(sim.Config{
			URL: s.WSURL(), Protocol: protocol, Connectors: 2, MaxPowerKW: 22, NoAutoStart: true, TimeScale: 600,
			MeterInterval: 50 * time.Millisecond, Energy: sim.KWhRange{Min: 3, Max: 3}, FinishingTime: sim.DurationRange{Min: time.Millisecond, Max: time.Millisecond},
			ReconnectMin: time.Hour, ReconnectMax: time.Hour, StepTime: time.Millisecond,
		}, id)
		if err != nil {
			t.Fatal(err)
		}
		cbtest.Run(t, ch)
		waitFor(t, id+" to boot", func() bool {
			var c api.Charger
			return s.GetJSON("/api/v1/chargers/"+id, &c) == http.StatusOK && c.Connected && c.BootStatus == charging.BootAccepted
		})
		return ch
	}
	st := run("SIM-201", "2.0.1")
	run("SIM-16", "1.6")
	var c api.Charger
	if s.GetJSON("/api/v1/chargers/SIM-201", &c); c.Protocol != "ocpp2.0.1" {
		t.Fatalf("SIM-201 speaks %q; want ocpp2.0.1", c.Protocol)
	}
	waitFor(t, "SIM-201's EVSEs to report", func() bool {
		s.GetJSON("/api/v1/chargers/SIM-201", &c)
		n := 0
		for _, cn := range c.Connectors {
			if cn.ConnectorID > 0 && cn.Status == charging.StatusAvailable {
				n++
			}
		}
		return n == 2
	})

	// Device model: asked for after the first boot, reported in parts,
	// browsable with a filter; a 1.6 charger has none.
	var dm charging.DeviceModel
	waitFor(t, "SIM-201's device model", func() bool {
		return s.GetJSON("/api/v1/chargers/SIM-201/variables", &dm) == 200 && dm.Complete && dm.Status != ""
	})
	if dm.Status != "Accepted" || dm.Parts < 2 || len(dm.Variables) < 5 {
		t.Errorf("device model: status %q, %d parts, %d variables; want Accepted, reported in parts", dm.Status, dm.Parts, len(dm.Variables))
	}
	// The report is kept once, in the device model, not also as raw events.
	var events struct {
		Items []struct{ Kind string } `json:"items"`
	}
	if code := s.GetJSON("/api/v1/chargers/SIM-201/events", &events); code != 200 {
		t.Fatalf("events of SIM-201: status %d", code)
	}
	for _, e := range events.Items {
		if e.Kind == "NotifyReport" {
			t.Errorf("a NotifyReport part is also kept as a charger event")
			break
		}
	}
	if code := s.GetJSON("/api/v1/chargers/SIM-201/variables?q=heartbeat", &dm); code != 200 || len(dm.Variables) != 1 ||
		dm.Variables[0].Component != "OCPPCommCtrlr" || dm.Variables[0].Attributes[0].Value == nil || dm.Variables[0].Attributes[0].Mutability != "ReadWrite" {
		t.Errorf("variables matching heartbeat: %d %+v", code, dm.Variables)
	}
	// Setting a variable: the station's result, and the stored value.
	for _, tc := range []struct {
		body   map[string]any
		code   int
		status string
	}{
		{map[string]any{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "120"}, 200, "Accepted"},
		{map[string]any{"component": "OCPPCommCtrlr", "variable": "NoSuchThing", "value": "1"}, 200, "UnknownVariable"},
		{map[string]any{"component": "OCPPCommCtrlr", "value": "1"}, 400, ""},
	} {
		var out map[string]any
		if code := s.PostJSON("/api/v1/chargers/SIM-201/variables", tc.body, &out); code != tc.code || (tc.status != "" && out["status"] != tc.status) {
			t.Errorf("set %v: %d %v; want %d %s", tc.body, code, out, tc.code, tc.status)
		}
	}
	if code := s.PostJSON("/api/v1/chargers/SIM-16/variables", map[string]any{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "120"}, nil); code != 409 {
		t.Errorf("set a variable of a 1.6 charger: %d; want 409", code)
	}
	s.GetJSON("/api/v1/chargers/SIM-201/variables?q=heartbeatinterval", &dm)
	if len(dm.Variables) != 1 || dm.Variables[0].Attributes[0].Value == nil || *dm.Variables[0].Attributes[0].Value != "120" {
		t.Errorf("after setting HeartbeatInterval to 120 the device model shows %+v", dm.Variables)
	}
	page := getPage(t, s, "/chargers/SIM-201?vq=heartbeat")
	if !strings.Contains(page, `id="device-model"`) || !strings.Contains(page, "HeartbeatInterval") || strings.Contains(page, "RateUnit") || strings.Contains(page, "0x") {
		t.Errorf("charger page's device model section, filtered on heartbeat, lacks HeartbeatInterval or shows more")
	}
	if p16 := getPage(t, s, "/chargers/SIM-16"); strings.Contains(p16, `id="device-model"`) || !strings.Contains(p16, `id="configuration"`) {
		t.Errorf("a 1.6 charger's page shows a device model, or not its 1.6 configuration keys")
	}
	if strings.Contains(page, `id="configuration"`) {
		t.Errorf("a 2.0.1 station's page shows the 1.6 configuration keys form")
	}
	if code := s.GetJSON("/api/v1/chargers/SIM-16/variables", nil); code != 404 {
		t.Errorf("device model of a 1.6 charger: %d; want 404", code)
	}

	action := func(id, name string, body map[string]any) (int, map[string]any) {
		var out map[string]any
		code := s.PostJSON("/api/v1/chargers/"+id+"/actions/"+name, body, &out)
		return code, out
	}
	exp := time.Now().Add(time.Hour).UTC()
	for _, id := range []string{"SIM-201", "SIM-16"} {
		for _, tc := range []struct {
			name   string
			body   map[string]any
			code   int
			status string
		}{
			{"reserve", map[string]any{"connector_id": 2, "id_tag": "R1", "reservation_id": 41, "expires_at": exp}, 200, "accepted"},
			{"cancel-reservation", map[string]any{"reservation_id": 41}, 200, "accepted"},
			{"cancel-reservation", map[string]any{"reservation_id": 41}, 409, "unknown"},
			{"unlock", map[string]any{"connector_id": 2}, 200, "accepted"},
			{"change-availability", map[string]any{"connector_id": 2, "operative": false}, 200, "accepted"},
			{"change-availability", map[string]any{"connector_id": 2, "operative": true}, 200, "accepted"},
			{"set-charging-limit", map[string]any{"connector_id": 1, "purpose": "default", "limit": 32, "unit": "A"}, 200, "accepted"},
		} {
			if code, out := action(id, tc.name, tc.body); code != tc.code || out["status"] != tc.status {
				t.Errorf("%s %s %v: %d %v; want %d %s", id, tc.name, tc.body, code, out, tc.code, tc.status)
			}
		}
	}

	// A remote-started session on the 2.0.1 station, limited while it
	// runs, stopped remotely.
	code, out := action("SIM-201", "start", map[string]any{"connector_id": 1, "id_tag": "TAG-201"})
	sid, _ := out["session_id"].(string)
	if code != 200 || sid == "" {
		t.Fatalf("start: %d %v", code, out)
	}
	var sess api.Session
	waitFor(t, "the session to charge", func() bool {
		return s.GetJSON("/api/v1/sessions/"+sid, &sess) == 200 && sess.Status == "active" && sess.KWh > 0.1
	})
	// 2.0.1 says Occupied; the transaction's chargingState says Charging.
	s.GetJSON("/api/v1/chargers/SIM-201", &c)
	for _, cn := range c.Connectors {
		if cn.ConnectorID == 1 && cn.Status != charging.StatusCharging {
			t.Errorf("EVSE 1 of SIM-201 is %s while charging; want Charging", cn.Status)
		}
	}
	if code, out := action("SIM-201", "set-charging-limit", map[string]any{"connector_id": 1, "purpose": "transaction", "limit": 11000, "unit": "W"}); code != 200 {
		t.Errorf("transaction limit: %d %v", code, out)
	}
	var stop map[string]any
	if code := s.PostJSON("/api/v1/sessions/"+sid+"/stop", nil, &stop); code != 200 {
		t.Fatalf("stop: %d %v", code, stop)
	}
	waitFor(t, "the session to complete", func() bool {
		return s.GetJSON("/api/v1/sessions/"+sid, &sess) == 200 && sess.Status == "completed"
	})
	// The station counts the session once the answer to its Ended is in.
	waitFor(t, "the station to see its session completed", func() bool { return st.Stats().SessionsCompleted == 1 })
	if stats := st.Stats(); stats.CallErrors != 0 || stats.Errors != 0 {
		t.Errorf("station stats %+v; want no CALLERROR and no error", stats)
	}

	ctx := context.Background()
	cs, err := s.Service().Store().GetSession(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	// The API gives kWh to the Wh (3 decimals); the store's is exact.
	if cs.KWh() <= 0.1 || math.Abs(cs.KWh()-sess.KWh) > 0.0005 {
		t.Fatalf("session kWh %v (API %v); want the energy charged", cs.KWh(), sess.KWh)
	}
	o := ocpi.SessionView(cs, ocpi.SessionContext{CPO: ocpi.Party{CountryCode: "NL", PartyID: "CBR"}, LocationID: "LOC-1"})
	if o.KWh != sess.KWh || o.Status != ocpi.SessionCompleted {
		t.Errorf("OCPI session: %v kWh %s; want %v COMPLETED", o.KWh, o.Status, sess.KWh)
	}
	samples, err := s.Service().Store().SessionSamples(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.Service().Store().GetCharger(ctx, "SIM-201")
	if err != nil {
		t.Fatal(err)
	}
	b, err := beckn.SessionView(cs, samples, beckn.SessionContext{Connector: &ch.Connectors[0], Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if b.MeteredEnergyKWh == nil || *b.MeteredEnergyKWh != sess.KWh || b.SessionStatus != evsession.StatusCompleted {
		t.Errorf("Beckn session: %+v; want %v kWh COMPLETED", b, sess.KWh)
	}
}

// TestSaturation201 is the bench's 2.0.1 saturation mode at a tiny,
// paced load (not a measurement): each station starts one transaction and
// sends TransactionEvent Updated, all accepted and folded into its session.
func TestSaturation201(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	fleet, err := sim.NewFleet(sim.Config{URL: s.WSURL(), Protocol: "2.0.1", IDPrefix: "SAT-", Connectors: 1,
		Saturate: true, SaturateInterval: 20 * time.Millisecond, NoAutoStart: true, ReconnectMin: time.Hour, ReconnectMax: time.Hour}, 2)
	if err != nil {
		t.Fatal(err)
	}
	cbtest.Run(t, fleet)
	for _, id := range []string{"SAT-00001", "SAT-00002"} {
		waitFor(t, id+"'s session to get 5 updates", func() bool {
			list := sessionsOf(t, s, id)
			if len(list) != 1 || list[0].Status != "active" {
				return false
			}
			var one api.Session
			return s.GetJSON("/api/v1/sessions/"+list[0].ID, &one) == 200 && len(one.Samples) >= 6
		})
	}
	if st := fleet.Stats(); st.CallErrors != 0 || st.Errors != 0 {
		t.Fatalf("fleet stats %+v; want no error", st)
	}
}

// TestSimulated201FleetWithFaults: 2.0.1 stations that drop their
// connection, go offline (TransactionEvents queued, flagged offline and
// replayed in seqNo order) and reboot mid-transaction, beside 1.6
// chargers doing the same: no message is refused, and every session ends
// in a final state with its energy.
func TestSimulated201FleetWithFaults(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	fleet, err := sim.NewFleet(sim.Config{
		URL: s.WSURL(), IDPrefix: "FLT-", Every201: 2, Connectors: 2, MaxPowerKW: 50,
		MeterInterval: 20 * time.Millisecond, SessionLength: sim.DurationRange{Min: 300 * time.Millisecond, Max: 500 * time.Millisecond},
		Energy: sim.KWhRange{Min: 20, Max: 30}, IdleTime: sim.DurationRange{Min: 10 * time.Millisecond, Max: 30 * time.Millisecond},
		FinishingTime: sim.DurationRange{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}, TimeScale: 600,
		IntervalUnit: 10 * time.Millisecond, StepTime: 10 * time.Millisecond, RebootTime: 20 * time.Millisecond,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 40 * time.Millisecond, CallTimeout: 3 * time.Second, Seed: 7,
		Faults: sim.Faults{DropConnection: 0.2, GoOffline: 0.2, OfflineTime: sim.DurationRange{Min: 20 * time.Millisecond, Max: 60 * time.Millisecond},
			RebootMidTransaction: 0.1},
	}, 4)
	if err != nil {
		t.Fatal(err)
	}
	stop := cbtest.Run(t, fleet)
	// Which stations finish first depends on scheduling: wait for a
	// completed session on each 2.0.1 station too, not only for a count.
	completedOn := func(id string) bool {
		for _, sess := range sessionsOf(t, s, id) {
			if sess.Status == "completed" {
				return true
			}
		}
		return false
	}
	waitFor(t, "12 completed sessions, one on each 2.0.1 station", func() bool {
		return fleet.Stats().SessionsCompleted >= 12 && completedOn("FLT-00002") && completedOn("FLT-00004")
	})
	stop()
	if st := fleet.Stats(); st.CallErrors != 0 {
		t.Errorf("fleet stats %+v; want no CALLERROR", st)
	}
	for _, id := range []string{"FLT-00002", "FLT-00004"} { // the 2.0.1 stations
		var c api.Charger
		s.GetJSON("/api/v1/chargers/"+id, &c)
		if c.Protocol != "" && c.Protocol != "ocpp2.0.1" {
			t.Errorf("%s speaks %q", id, c.Protocol)
		}
		completed := 0
		for _, sess := range sessionsOf(t, s, id) {
			if sess.Status == "completed" {
				completed++
				if sess.KWh <= 0 {
					t.Errorf("%s: completed session %s without energy: %+v", id, sess.ID, sess)
				}
			}
		}
		if completed == 0 {
			t.Errorf("%s completed no session", id)
		}
	}
}
