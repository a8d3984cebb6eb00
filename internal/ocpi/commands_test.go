package ocpi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpi"
)

// command POSTs a command and returns the CommandResponse (or the OCPI
// error status).
func command(t testing.TB, e *emsp, base, name string, body map[string]any) (int, int, ocpi.CommandResponse) {
	t.Helper()
	st, env, _ := e.call(http.MethodPost, base+"/ocpi/2.2.1/commands/"+name, body)
	var cr ocpi.CommandResponse
	_ = json.Unmarshal(env.Data, &cr)
	return st, env.StatusCode, cr
}

// resultAt waits for the CommandResult POSTed to a response URL path.
func resultAt(t testing.TB, e *emsp, path string) ocpi.CommandResult {
	t.Helper()
	var res ocpi.CommandResult
	waitFor(t, "command result at "+path, func() bool {
		for _, r := range e.commandResults() {
			if r.Path == path {
				_ = json.Unmarshal(r.Body, &res)
				return true
			}
		}
		return false
	})
	return res
}

func TestCommandsWithSimulator(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	e.register(s)
	runSim(t, s, "CP-CMD")
	tok := token("OK-CMD", "NEVER", true)
	n := 0
	respURL := func() (string, string) {
		n++
		p := "/emsp/results/" + string(rune('a'+n))
		return e.url() + p, p
	}

	var sessionID string
	t.Run("start-session", func(t *testing.T) {
		u, p := respURL()
		st, code, cr := command(t, e, s.URL(), "START_SESSION", map[string]any{"response_url": u, "token": tok,
			"location_id": "CP-CMD", "evse_uid": "CP-CMD-1", "connector_id": "1", "authorization_reference": "REF-1"})
		if st != 200 || code != 1000 || cr.Result != "ACCEPTED" || cr.Timeout != 3 {
			t.Fatalf("START_SESSION: HTTP %d %d %+v; want ACCEPTED with timeout 3", st, code, cr)
		}
		if res := resultAt(t, e, p); res.Result != "ACCEPTED" {
			t.Fatalf("CommandResult %+v; want ACCEPTED", res)
		}
		waitFor(t, "the session to be active", func() bool {
			for _, p := range pushesTo(e, "", "/sessions/") {
				if strings.Contains(string(p.Body), `"ACTIVE"`) {
					sessionID = p.Path[strings.LastIndex(p.Path, "/")+1:]
					return true
				}
			}
			return false
		})
		var put map[string]any
		_ = json.Unmarshal(pushesTo(e, "PUT", "/sessions/")[0].Body, &put)
		ct, _ := put["cdr_token"].(map[string]any)
		if put["auth_method"] != "COMMAND" || put["authorization_reference"] != "REF-1" || ct["uid"] != "OK-CMD" || ct["party_id"] != "EMS" {
			t.Fatalf("session %v; want COMMAND, REF-1 and the command's token", put)
		}
		for _, p := range e.pushes() {
			if strings.HasSuffix(p.Path, "/authorize") {
				t.Fatalf("the token of a START_SESSION was authorized again: %s", p.Path)
			}
		}
	})
	t.Run("stop-session", func(t *testing.T) {
		u, p := respURL()
		if _, _, cr := command(t, e, s.URL(), "STOP_SESSION", map[string]any{"response_url": u, "session_id": sessionID}); cr.Result != "ACCEPTED" {
			t.Fatalf("STOP_SESSION: %+v", cr)
		}
		if res := resultAt(t, e, p); res.Result != "ACCEPTED" {
			t.Fatalf("CommandResult %+v; want ACCEPTED", res)
		}
		waitFor(t, "the CDR", func() bool { return len(pushesTo(e, "POST", "/cdrs")) == 1 })
	})
	t.Run("stop-unknown-session", func(t *testing.T) {
		u, _ := respURL()
		if _, _, cr := command(t, e, s.URL(), "STOP_SESSION", map[string]any{"response_url": u, "session_id": "nope"}); cr.Result != "UNKNOWN_SESSION" {
			t.Fatalf("STOP_SESSION of an unknown session: %+v; want UNKNOWN_SESSION", cr)
		}
	})
	t.Run("reserve-and-cancel", func(t *testing.T) {
		u, p := respURL()
		exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if _, _, cr := command(t, e, s.URL(), "RESERVE_NOW", map[string]any{"response_url": u, "token": tok, "expiry_date": exp,
			"reservation_id": "R-1", "location_id": "CP-CMD", "evse_uid": "CP-CMD-2"}); cr.Result != "ACCEPTED" {
			t.Fatalf("RESERVE_NOW: %+v", cr)
		}
		if res := resultAt(t, e, p); res.Result != "ACCEPTED" {
			t.Fatalf("RESERVE_NOW result %+v", res)
		}
		waitFor(t, "a RESERVATION session", func() bool {
			for _, p := range pushesTo(e, "PUT", "/sessions/") {
				if strings.Contains(string(p.Body), `"RESERVATION"`) {
					return true
				}
			}
			return false
		})
		u, p = respURL()
		if _, _, cr := command(t, e, s.URL(), "CANCEL_RESERVATION", map[string]any{"response_url": u, "reservation_id": "R-1"}); cr.Result != "ACCEPTED" {
			t.Fatalf("CANCEL_RESERVATION: %+v", cr)
		}
		if res := resultAt(t, e, p); res.Result != "ACCEPTED" {
			t.Fatalf("CANCEL_RESERVATION result %+v", res)
		}
		u, p = respURL()
		command(t, e, s.URL(), "CANCEL_RESERVATION", map[string]any{"response_url": u, "reservation_id": "R-404"})
		if res := resultAt(t, e, p); res.Result != "UNKNOWN_RESERVATION" {
			t.Fatalf("cancel of an unknown reservation: %+v; want UNKNOWN_RESERVATION", res)
		}
	})
	t.Run("unlock", func(t *testing.T) {
		u, p := respURL()
		if _, _, cr := command(t, e, s.URL(), "UNLOCK_CONNECTOR", map[string]any{"response_url": u, "location_id": "CP-CMD", "evse_uid": "CP-CMD-2", "connector_id": "1"}); cr.Result != "ACCEPTED" {
			t.Fatalf("UNLOCK_CONNECTOR: %+v", cr)
		}
		if res := resultAt(t, e, p); res.Result != "ACCEPTED" {
			t.Fatalf("UNLOCK_CONNECTOR result %+v", res)
		}
	})
	t.Run("errors", func(t *testing.T) {
		u, _ := respURL()
		for _, tt := range []struct {
			name, command string
			body          map[string]any
			http, code    int
			result        string
		}{
			{"unknown-location", "START_SESSION", map[string]any{"response_url": u, "token": tok, "location_id": "LOC1"}, 404, 2003, ""},
			{"unknown-evse", "UNLOCK_CONNECTOR", map[string]any{"response_url": u, "location_id": "CP-CMD", "evse_uid": "CP-CMD-7", "connector_id": "1"}, 404, 2003, ""},
			{"no-response-url", "STOP_SESSION", map[string]any{"session_id": "x"}, 400, 2001, ""},
			{"no-token", "START_SESSION", map[string]any{"response_url": u, "location_id": "CP-CMD"}, 400, 2001, ""},
			{"unsupported", "SET_CHARGING_PROFILE", map[string]any{"response_url": u}, 200, 1000, "NOT_SUPPORTED"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				st, code, cr := command(t, e, s.URL(), tt.command, tt.body)
				if st != tt.http || code != tt.code || cr.Result != tt.result {
					t.Fatalf("HTTP %d %d %+v; want %d %d %q", st, code, cr, tt.http, tt.code, tt.result)
				}
			})
		}
	})
	t.Run("offline-charger", func(t *testing.T) {
		if _, err := s.Service().RegisterCharger(context.Background(), charging.Charger{ID: "CP-OFF"}); err != nil {
			t.Fatal(err)
		}
		u, _ := respURL()
		if _, _, cr := command(t, e, s.URL(), "START_SESSION", map[string]any{"response_url": u, "token": tok, "location_id": "CP-OFF"}); cr.Result != "REJECTED" {
			t.Fatalf("START_SESSION at an offline charger: %+v; want REJECTED", cr)
		}
	})
}

func TestCommandTimeout(t *testing.T) {
	s := startCPO(t, withOCPI(func(c *ocpi.Config) { c.CommandTimeout = 300 * time.Millisecond }))
	e := newEMSP(t)
	e.register(s)
	c := s.MustDial("CP-MUTE") // a charger that never answers commands
	c.MustCall("BootNotification", map[string]any{"chargePointVendor": "Acme", "chargePointModel": "AC22"}, nil)
	st, code, cr := command(t, e, s.URL(), "START_SESSION", map[string]any{"response_url": e.url() + "/emsp/results/mute",
		"token": token("OK-MUTE", "ALWAYS", true), "location_id": "CP-MUTE"})
	if st != 200 || code != 1000 || cr.Result != "ACCEPTED" {
		t.Fatalf("START_SESSION: HTTP %d %d %+v", st, code, cr)
	}
	if res := resultAt(t, e, "/emsp/results/mute"); res.Result != "TIMEOUT" {
		t.Fatalf("CommandResult %+v; want TIMEOUT", res)
	}
}
