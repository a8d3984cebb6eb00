package ocpprpc

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/loadmgmt"
	"github.com/chargebridge/chargebridge/internal/server"
)

// station201 is commands201.js running: the calls it got, in order.
type station201 struct {
	t     *testing.T
	lines chan map[string]any
	seen  []map[string]any
	// skipped are lines read and not matched yet, oldest first.
	skipped []map[string]any
}

// next returns the first line the script printed, and no earlier next
// returned, that matches; it fails the test when the script ends or a
// minute passes first.
func (s *station201) next(what string, match func(map[string]any) bool) map[string]any {
	s.t.Helper()
	for i, l := range s.skipped {
		if match(l) {
			s.skipped = append(s.skipped[:i], s.skipped[i+1:]...)
			return l
		}
	}
	timeout := time.After(time.Minute)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				s.t.Fatalf("commands201.js ended before %s", what)
			}
			s.seen = append(s.seen, l)
			if match(l) {
				return l
			}
			s.skipped = append(s.skipped, l)
		case <-timeout:
			s.t.Fatalf("no %s from commands201.js in a minute; it printed %v", what, s.seen)
		}
	}
}

// call returns the params of the next call of method the station got.
func (s *station201) call(method string) map[string]any {
	s.t.Helper()
	l := s.next(method, func(l map[string]any) bool { return l["method"] == method && !isLoadCall(l) })
	p, _ := l["params"].(map[string]any)
	return p
}

// isLoadCall tells the calls load management sends (asynchronously) from
// the test's own: GetVariables, and profiles with the load manager's ids.
func isLoadCall(l map[string]any) bool {
	if l["method"] == "GetVariables" {
		return true
	}
	p, _ := l["params"].(map[string]any)
	prof, _ := p["chargingProfile"].(map[string]any)
	id, _ := prof["id"].(float64)
	return l["method"] == "SetChargingProfile" && id >= loadmgmt.ProfileBase
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestOcppRpcCommands201: every command of the core's command port reaches
// an ocpp-rpc 2.0.1 station (strict mode: it validates each CALL against its
// own copy of the official schemas) as its 2.0.1 message, and the answers
// come back as the same results and errors as 1.6's; load management
// limits the station's transaction in the unit it says it takes.
func TestOcppRpcCommands201(t *testing.T) {
	nodeModules(t)
	s := cbtest.Start(t, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }),
		func(st *cbtest.Setup) {
			st.Options.LoadMgmt = func(c *loadmgmt.Config) { c.RateInterval = 20 * time.Millisecond }
		})
	const id = "RPC-CMD"
	ctx := context.Background()
	if _, err := s.Service().RegisterCharger(ctx, charging.Charger{ID: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load().PutSite(ctx, loadmgmt.Site{ID: "SITE-201", MaxPowerKW: 7, Chargers: []string{id}, ChargerMaxKW: map[string]float64{id: 11}}); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("node", "commands201.js", "ws://"+s.Addr+"/ocpp", id)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	st := &station201{t: t, lines: make(chan map[string]any, 100)}
	go func() {
		defer close(st.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				l = map[string]any{"text": sc.Text()}
			}
			st.lines <- l
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("commands201.js: %v\n%s", err, stderr.String())
		}
		for _, l := range st.seen {
			if l["invalid"] != nil {
				t.Errorf("ocpp-rpc found an invalid message: %v", l)
			}
		}
	})
	st.next("ready", func(l map[string]any) bool { return l["text"] == `"ready"` })

	type answer struct {
		code int
		body map[string]any
	}
	action := func(name string, body map[string]any) answer {
		t.Helper()
		var out map[string]any
		code := s.PostJSON("/api/v1/chargers/"+id+"/actions/"+name, body, &out)
		return answer{code, out}
	}
	expect := func(what string, a answer, code int, status string) {
		t.Helper()
		if a.code != code || a.body["status"] != status {
			t.Errorf("%s: %d %v; want %d with status %q", what, a.code, a.body, code, status)
		}
	}
	sessionStatus := func(sid string) string {
		var sess api.Session
		if code := s.GetJSON("/api/v1/sessions/"+sid, &sess); code != http.StatusOK {
			t.Fatalf("GET session %s: %d", sid, code)
		}
		return string(sess.Status)
	}

	// Reservations: ReserveNow with the EVSE, a reserved session; a cancel
	// of what the station does not hold is "unknown", as in 1.6.
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	a := action("reserve", map[string]any{"connector_id": 1, "id_tag": "TAG-R", "reservation_id": 7, "expires_at": exp})
	expect("reserve", a, 200, "accepted")
	p := st.call("ReserveNow")
	if p["id"] != 7.0 || p["evseId"] != 1.0 || jsonOf(p["idToken"]) != `{"idToken":"TAG-R","type":"Central"}` {
		t.Errorf("ReserveNow sent %v", p)
	}
	if sid, _ := a.body["session_id"].(string); sid == "" || sessionStatus(sid) != "reserved" {
		t.Errorf("reserve answered %v; want the reserved session", a.body)
	}
	expect("cancel", action("cancel-reservation", map[string]any{"reservation_id": 7}), 200, "accepted")
	if p := st.call("CancelReservation"); p["reservationId"] != 7.0 {
		t.Errorf("CancelReservation sent %v", p)
	}
	if sid, _ := a.body["session_id"].(string); sid != "" && sessionStatus(sid) == "reserved" {
		t.Errorf("the cancelled reservation's session is still reserved")
	}
	expect("cancel again", action("cancel-reservation", map[string]any{"reservation_id": 7}), 409, "unknown")
	st.call("CancelReservation")

	// Unlock names the EVSE and its connector.
	expect("unlock 1", action("unlock", map[string]any{"connector_id": 1}), 200, "accepted")
	if p := st.call("UnlockConnector"); p["evseId"] != 1.0 || p["connectorId"] != 1.0 {
		t.Errorf("UnlockConnector sent %v", p)
	}
	expect("unlock 2", action("unlock", map[string]any{"connector_id": 2}), 409, "unknown")
	st.call("UnlockConnector")
	if a := action("unlock", map[string]any{"connector_id": 0}); a.code != 400 {
		t.Errorf("unlock connector 0: %d %v; want 400", a.code, a.body)
	}

	// Reset: hard is Immediate, soft OnIdle (which the station schedules).
	expect("hard reset", action("reset", map[string]any{"hard": true}), 200, "accepted")
	if p := st.call("Reset"); p["type"] != "Immediate" {
		t.Errorf("hard Reset sent %v", p)
	}
	expect("soft reset", action("reset", map[string]any{}), 200, "scheduled")
	if p := st.call("Reset"); p["type"] != "OnIdle" {
		t.Errorf("soft Reset sent %v", p)
	}

	// Availability: the whole station, then one EVSE.
	expect("station inoperative", action("change-availability", map[string]any{"connector_id": 0, "operative": false}), 200, "accepted")
	if p := st.call("ChangeAvailability"); jsonOf(p) != `{"operationalStatus":"Inoperative"}` {
		t.Errorf("ChangeAvailability (station) sent %v", p)
	}
	expect("EVSE operative", action("change-availability", map[string]any{"connector_id": 1, "operative": true}), 200, "accepted")
	if p := st.call("ChangeAvailability"); jsonOf(p) != `{"evse":{"id":1},"operationalStatus":"Operative"}` {
		t.Errorf("ChangeAvailability (EVSE) sent %v", p)
	}
	var avail struct{ Items []json.RawMessage }
	if code := s.GetJSON("/api/v1/chargers/"+id+"/availability", &avail); code != 200 || len(avail.Items) != 2 {
		t.Errorf("availability requests kept: %d %d; want 2", code, len(avail.Items))
	}

	// A default limit; a transaction limit without a transaction is a
	// conflict, sent nowhere.
	expect("default limit", action("set-charging-limit", map[string]any{"connector_id": 1, "purpose": "default", "limit": 16, "unit": "A"}), 200, "accepted")
	p = st.call("SetChargingProfile")
	if want := `{"chargingProfile":{"chargingProfileKind":"Relative","chargingProfilePurpose":"TxDefaultProfile","chargingSchedule":[{"chargingRateUnit":"A","chargingSchedulePeriod":[{"limit":16,"startPeriod":0}],"id":1}],"id":2001,"stackLevel":0},"evseId":1}`; jsonOf(p) != want {
		t.Errorf("SetChargingProfile (default) sent\n%s\nwant\n%s", jsonOf(p), want)
	}
	if a := action("set-charging-limit", map[string]any{"connector_id": 1, "purpose": "transaction", "limit": 11000, "unit": "W"}); a.code != 409 {
		t.Errorf("transaction limit without a transaction: %d %v; want 409", a.code, a.body)
	}

	// Remote start: the pending session, taken over by the Started event.
	a = action("start", map[string]any{"connector_id": 1, "id_tag": "TAG-S"})
	expect("start", a, 200, "accepted")
	p = st.call("RequestStartTransaction")
	sid, _ := a.body["session_id"].(string)
	if sid == "" {
		t.Fatalf("start answered %v; want the pending session", a.body)
	}
	st.next("Started sent", func(l map[string]any) bool { return l["sent"] == "Started" })
	if got := sessionStatus(sid); got != "active" {
		t.Fatalf("remote-started session %s is %s; want active (the Started event took the pending session over)", sid, got)
	}
	txID := fmt.Sprintf("CMD-TX-%d", int64(p["remoteStartId"].(float64)))

	expect("reserve while charging", action("reserve", map[string]any{"connector_id": 1, "id_tag": "TAG-R", "reservation_id": 8, "expires_at": exp}), 409, "occupied")
	st.call("ReserveNow")

	a = action("set-charging-limit", map[string]any{"connector_id": 1, "purpose": "transaction", "limit": 11000, "unit": "W", "phases": 3, "stack_level": 2})
	expect("transaction limit", a, 200, "accepted")
	if a.body["session_id"] != sid {
		t.Errorf("transaction limit answered %v; want session %s", a.body, sid)
	}
	p = st.call("SetChargingProfile")
	if want := `{"chargingProfile":{"chargingProfileKind":"Relative","chargingProfilePurpose":"TxProfile","chargingSchedule":[{"chargingRateUnit":"W","chargingSchedulePeriod":[{"limit":11000,"numberPhases":3,"startPeriod":0}],"id":1}],"id":1001,"stackLevel":2,"transactionId":"` + txID + `"},"evseId":1}`; jsonOf(p) != want {
		t.Errorf("SetChargingProfile (transaction) sent\n%s\nwant\n%s", jsonOf(p), want)
	}

	// Load management: asked its units with GetVariables, the station gets
	// the site's 7 kW as a TxProfile in W for its transaction.
	st.next("load management's GetVariables", func(l map[string]any) bool { return l["method"] == "GetVariables" })
	l := st.next("load management's limit", func(l map[string]any) bool {
		if !isLoadCall(l) || l["method"] != "SetChargingProfile" {
			return false
		}
		prof := l["params"].(map[string]any)["chargingProfile"].(map[string]any)
		return prof["chargingProfilePurpose"] == "TxProfile"
	})
	prof := l["params"].(map[string]any)["chargingProfile"].(map[string]any)
	sched := prof["chargingSchedule"].([]any)[0].(map[string]any)
	limit := sched["chargingSchedulePeriod"].([]any)[0].(map[string]any)["limit"].(float64)
	if sched["chargingRateUnit"] != "W" || math.Abs(limit-7000) > 1 || prof["transactionId"] != txID || prof["stackLevel"].(float64) > 3 {
		t.Errorf("load management sent %v; want a TxProfile for %s at 7000 W, stack level at most 3", jsonOf(prof), txID)
	}

	// Remote stop: RequestStopTransaction with the station's id; the Ended
	// event completes the session.
	var stop map[string]any
	if code := s.PostJSON("/api/v1/sessions/"+sid+"/stop", nil, &stop); code != 200 || stop["status"] != "accepted" {
		t.Errorf("stop: %d %v", code, stop)
	}
	if p := st.call("RequestStopTransaction"); p["transactionId"] != txID {
		t.Errorf("RequestStopTransaction sent %v; want %s", p, txID)
	}
	st.next("Ended sent", func(l map[string]any) bool { return l["sent"] == "Ended" })
	var sess api.Session
	if code := s.GetJSON("/api/v1/sessions/"+sid, &sess); code != 200 || sess.Status != "completed" || math.Abs(sess.KWh-3) > 1e-9 {
		t.Errorf("stopped session: %d %+v; want completed, 3 kWh", code, sess)
	}
}
