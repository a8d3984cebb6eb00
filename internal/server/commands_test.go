package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/server"
)

// command posts an OCPP payload to the command endpoint and returns the
// HTTP status and the decoded answer.
func command(t *testing.T, s *cbtest.Server, charger, action, payload string) (int, map[string]any) {
	t.Helper()
	resp, err := s.HTTP.Post(s.URL()+"/api/v1/chargers/"+charger+"/commands/"+action, "application/json", strings.NewReader(payload))
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// runSim starts one simulated charger that only charges when told to.
func runSim(t *testing.T, s *cbtest.Server, id string) {
	t.Helper()
	startSim(t, s, id, "", nil)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sessionsOf(t *testing.T, s *cbtest.Server, charger string) []api.Session {
	var page struct {
		Items []api.Session `json:"items"`
	}
	s.GetJSON("/api/v1/sessions?charger_id="+charger, &page)
	return page.Items
}

func TestEveryCommandReachesTheSimulator(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	runSim(t, s, "SIM-CMD")
	soon := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	profile := `{"chargingProfileId":7,"stackLevel":1,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Absolute","chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16}]}}`
	tests := []struct {
		action, payload string
		want            string // the answer's "status", or "" to only require a valid answer
	}{
		{"GetConfiguration", `{"key":["HeartbeatInterval"]}`, ""},
		{"ChangeConfiguration", `{"key":"MeterValueSampleInterval","value":"30"}`, "Accepted"},
		{"ClearCache", `{}`, "Accepted"},
		{"DataTransfer", `{"vendorId":"com.example"}`, "UnknownVendorId"},
		{"TriggerMessage", `{"requestedMessage":"Heartbeat"}`, "Accepted"},
		{"ExtendedTriggerMessage", `{"requestedMessage":"Heartbeat"}`, "Accepted"},
		{"ChangeAvailability", `{"connectorId":2,"type":"Inoperative"}`, "Accepted"},
		{"ChangeAvailability", `{"connectorId":2,"type":"Operative"}`, "Accepted"},
		{"UnlockConnector", `{"connectorId":2}`, "Unlocked"},
		{"ReserveNow", `{"connectorId":2,"expiryDate":"` + soon + `","idTag":"RES-TAG","reservationId":42}`, "Accepted"},
		{"CancelReservation", `{"reservationId":42}`, "Accepted"},
		{"CancelReservation", `{"reservationId":4242}`, "Rejected"},
		{"SendLocalList", `{"listVersion":3,"updateType":"Full","localAuthorizationList":[{"idTag":"LOCAL-1","idTagInfo":{"status":"Accepted"}}]}`, "Accepted"},
		{"GetLocalListVersion", `{}`, ""},
		{"SetChargingProfile", `{"connectorId":1,"csChargingProfiles":` + profile + `}`, "Accepted"},
		{"GetCompositeSchedule", `{"connectorId":1,"duration":3600}`, "Accepted"},
		{"ClearChargingProfile", `{"id":7}`, "Accepted"},
		{"GetDiagnostics", `{"location":"ftp://diag.example.com/"}`, ""},
		{"UpdateFirmware", `{"location":"https://fw.example.com/fw.bin","retrieveDate":"` + soon + `"}`, ""},
		{"GetLog", `{"logType":"DiagnosticsLog","requestId":1,"log":{"remoteLocation":"https://logs.example.com/"}}`, "Accepted"},
		{"InstallCertificate", `{"certificateType":"CentralSystemRootCertificate","certificate":"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----"}`, ""},
		{"GetInstalledCertificateIds", `{"certificateType":"CentralSystemRootCertificate"}`, ""},
		{"DeleteCertificate", `{"certificateHashData":{"hashAlgorithm":"SHA256","issuerNameHash":"aa","issuerKeyHash":"bb","serialNumber":"01"}}`, ""},
		{"CertificateSigned", `{"certificateChain":"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----"}`, ""},
		{"SignedUpdateFirmware", `{"requestId":9,"firmware":{"location":"https://fw.example.com/fw.bin","retrieveDateTime":"` + soon + `","signingCertificate":"-----BEGIN CERTIFICATE-----","signature":"c2ln"}}`, ""},
		{"RemoteStopTransaction", `{"transactionId":999999}`, "Rejected"},
	}
	for _, tt := range tests {
		t.Run(strings.ToLower(tt.action), func(t *testing.T) {
			st, out := command(t, s, "SIM-CMD", tt.action, tt.payload)
			if st != http.StatusOK {
				t.Fatalf("%s %s: HTTP %d %v", tt.action, tt.payload, st, out)
			}
			if tt.want != "" && out["status"] != tt.want {
				t.Fatalf("%s answered %v; want status %s", tt.action, out, tt.want)
			}
		})
	}
	t.Run("local-list-version-is-the-one-sent", func(t *testing.T) {
		_, out := command(t, s, "SIM-CMD", "GetLocalListVersion", `{}`)
		if out["listVersion"] != float64(3) {
			t.Fatalf("listVersion = %v; want 3", out["listVersion"])
		}
	})
	t.Run("local-list-and-profiles-are-kept", func(t *testing.T) {
		var list struct {
			Version int                        `json:"version"`
			Entries map[string]json.RawMessage `json:"entries"`
		}
		s.GetJSON("/api/v1/chargers/SIM-CMD/local-list", &list)
		if list.Version != 3 || len(list.Entries) != 1 || list.Entries["LOCAL-1"] == nil {
			t.Fatalf("local list = %+v; want version 3 with LOCAL-1", list)
		}
		var profiles, avail struct{ Items []json.RawMessage }
		s.GetJSON("/api/v1/chargers/SIM-CMD/charging-profiles", &profiles)
		if len(profiles.Items) != 0 {
			t.Fatalf("profiles = %s; want none after ClearChargingProfile", profiles.Items)
		}
		s.GetJSON("/api/v1/chargers/SIM-CMD/availability", &avail)
		if len(avail.Items) != 1 || !strings.Contains(string(avail.Items[0]), `"Operative"`) {
			t.Fatalf("availability = %s; want connector 2 back to Operative", avail.Items)
		}
	})
	t.Run("invalid-request-is-refused-before-sending", func(t *testing.T) {
		st, out := command(t, s, "SIM-CMD", "Reset", `{"type":"Gentle"}`)
		if st != http.StatusBadRequest {
			t.Fatalf("Reset Gentle: HTTP %d %v; want 400", st, out)
		}
	})
	t.Run("unknown-action", func(t *testing.T) {
		if st, _ := command(t, s, "SIM-CMD", "Teleport", `{}`); st != http.StatusNotFound {
			t.Fatalf("Teleport: HTTP %d; want 404", st)
		}
	})
	t.Run("not-connected-fails-at-once", func(t *testing.T) {
		if _, err := s.Server.Service().RegisterCharger(context.Background(), charging.Charger{ID: "AWAY"}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		st, _ := command(t, s, "AWAY", "Reset", `{"type":"Soft"}`)
		if st != http.StatusConflict || time.Since(start) > 2*time.Second {
			t.Fatalf("command to an absent charger: HTTP %d after %v; want 409 at once", st, time.Since(start))
		}
	})
	t.Run("unregistered-charger-is-named", func(t *testing.T) {
		st, out := command(t, s, "NOBODY", "Reset", `{"type":"Soft"}`)
		if st != http.StatusNotFound || out["error"] != "charger NOBODY is not registered (chargebridge chargers add NOBODY)" {
			t.Fatalf("command to an unregistered charger: HTTP %d %v; want 404 not registered", st, out)
		}
	})
	t.Run("command-log", func(t *testing.T) {
		var log struct {
			Items []charging.CommandRecord `json:"items"`
		}
		if st := s.GetJSON("/api/v1/chargers/SIM-CMD/commands?limit=500", &log); st != http.StatusOK {
			t.Fatalf("command log: HTTP %d", st)
		}
		if len(log.Items) < len(tests)+2 {
			t.Fatalf("command log has %d entries; want at least %d", len(log.Items), len(tests)+2)
		}
		var sawInvalid, sawRejectedStop bool
		for _, r := range log.Items {
			if r.Action == "Reset" && r.Outcome == "invalid_request" {
				sawInvalid = true
			}
			if r.Action == "RemoteStopTransaction" && r.Outcome == "answered" && strings.Contains(string(r.Response), "Rejected") && r.RequestedBy == "api" {
				sawRejectedStop = true
			}
		}
		if !sawInvalid || !sawRejectedStop {
			t.Fatalf("command log lacks the refused Reset (%v) or the rejected stop (%v): %+v", sawInvalid, sawRejectedStop, log.Items)
		}
	})
	t.Run("reset-reboots-the-charger", func(t *testing.T) {
		st, out := command(t, s, "SIM-CMD", "Reset", `{"type":"Soft"}`)
		if st != http.StatusOK || out["status"] != "Accepted" {
			t.Fatalf("Reset: HTTP %d %v", st, out)
		}
		waitFor(t, "the reboot's BootNotification", func() bool {
			var c api.Charger
			s.GetJSON("/api/v1/chargers/SIM-CMD", &c)
			return c.LastBootAt != nil && time.Since(*c.LastBootAt) < 5*time.Second && c.Connected
		})
	})
}

func TestRemoteStartAndStopDriveTheSession(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	cp := startSim(t, s, "SIM-RS", "", nil)
	st, out := command(t, s, "SIM-RS", "RemoteStartTransaction", `{"connectorId":1,"idTag":"APP-USER"}`)
	if st != http.StatusOK || out["status"] != "Accepted" {
		t.Fatalf("remote start: HTTP %d %v", st, out)
	}
	var sess api.Session
	waitFor(t, "the remote start's session to become active", func() bool {
		ss := sessionsOf(t, s, "SIM-RS")
		if len(ss) == 1 && ss[0].Status == charging.SessionActive && ss[0].TransactionID != "" {
			sess = ss[0]
			return true
		}
		return false
	})
	if sess.IDTag != "APP-USER" || sess.ConnectorID != 1 {
		t.Fatalf("session = %+v; want APP-USER on connector 1", sess)
	}
	// The server stores the start before it answers it: the stop can
	// reach the charger before the answer that tells it its transaction
	// id, and a charger rejects a stop of a transaction it does not know.
	waitFor(t, "the charger to know its transaction", func() bool { return cp.Charging(1) })
	st, out = command(t, s, "SIM-RS", "RemoteStopTransaction", fmt.Sprintf(`{"transactionId":%s}`, sess.TransactionID))
	if st != http.StatusOK || out["status"] != "Accepted" {
		t.Fatalf("remote stop: HTTP %d %v", st, out)
	}
	waitFor(t, "the session to complete", func() bool {
		var got api.Session
		s.GetJSON("/api/v1/sessions/"+sess.ID, &got)
		return got.Status == charging.SessionCompleted && got.StopReason == "Remote"
	})
}

func TestReservationTakenOverByStart(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	runSim(t, s, "SIM-RES")
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if st, out := command(t, s, "SIM-RES", "ReserveNow", `{"connectorId":1,"expiryDate":"`+exp+`","idTag":"DRIVER-9","reservationId":77}`); st != http.StatusOK || out["status"] != "Accepted" {
		t.Fatalf("reserve: HTTP %d %v", st, out)
	}
	ss := sessionsOf(t, s, "SIM-RES")
	if len(ss) != 1 || ss[0].Status != charging.SessionReserved {
		t.Fatalf("sessions = %+v; want one reserved", ss)
	}
	reservedID := ss[0].ID
	if st, out := command(t, s, "SIM-RES", "RemoteStartTransaction", `{"connectorId":1,"idTag":"DRIVER-9"}`); st != http.StatusOK || out["status"] != "Accepted" {
		t.Fatalf("remote start on the reserved connector: HTTP %d %v", st, out)
	}
	waitFor(t, "the reservation to become the active session", func() bool {
		var got api.Session
		s.GetJSON("/api/v1/sessions/"+reservedID, &got)
		return got.Status == charging.SessionActive && got.TransactionID != ""
	})
}

func TestReservationExpiresAndPendingTimesOut(t *testing.T) {
	clock := cbtest.NewClock(time.Now().UTC())
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.WithClock(clock), cbtest.Configure(func(c *server.Config) {
		c.AcceptUnknownTags = true
		c.RemoteStartTimeout = time.Minute
	}))
	// A raw client plays a charger that accepts everything and never starts.
	c := s.MustDial("LAZY-CP")
	boot(t, c)
	answer := func() {
		in := c.MustRead()
		var f []json.RawMessage
		if err := json.Unmarshal(in, &f); err != nil || string(f[0]) != "2" {
			t.Errorf("charger got %s; want a CALL", in)
			return
		}
		c.SendRaw(fmt.Sprintf(`[3,%s,{"status":"Accepted"}]`, f[1]))
	}
	post := func(action, payload string) {
		done := make(chan struct{})
		go func() { defer close(done); answer() }()
		if st, out := command(t, s, "LAZY-CP", action, payload); st != http.StatusOK {
			t.Fatalf("%s: HTTP %d %v", action, st, out)
		}
		<-done
	}
	exp := clock.Now().Add(10 * time.Minute).Format(time.RFC3339)
	post("ReserveNow", `{"connectorId":1,"expiryDate":"`+exp+`","idTag":"LATE","reservationId":5}`)
	post("RemoteStartTransaction", `{"connectorId":2,"idTag":"NEVER"}`)
	byStatus := func() map[charging.SessionStatus]api.Session {
		out := map[charging.SessionStatus]api.Session{}
		for _, x := range sessionsOf(t, s, "LAZY-CP") {
			out[x.Status] = x
		}
		return out
	}
	got := byStatus()
	if _, ok := got[charging.SessionReserved]; !ok {
		t.Fatalf("sessions = %v; want a reserved one", got)
	}
	if _, ok := got[charging.SessionPending]; !ok {
		t.Fatalf("sessions = %v; want a pending one", got)
	}
	clock.Advance(2 * time.Minute) // past the remote-start timeout, not the reservation
	waitFor(t, "the pending session to be closed", func() bool {
		p, ok := byStatus()[charging.SessionInvalid]
		return ok && p.StopReason == "RemoteStartTimeout"
	})
	if _, ok := byStatus()[charging.SessionReserved]; !ok {
		t.Fatal("the reservation ended before its expiry")
	}
	clock.Advance(10 * time.Minute)
	waitFor(t, "the reservation to expire", func() bool {
		r, ok := byStatus()[charging.SessionCompleted]
		return ok && r.StopReason == "ReservationExpired"
	})
}

func TestCommandTimeout(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.CallTimeout = 300 * time.Millisecond }))
	c := s.MustDial("MUTE-CP")
	boot(t, c)
	st, out := command(t, s, "MUTE-CP", "ClearCache", `{}`)
	if st != http.StatusGatewayTimeout {
		t.Fatalf("unanswered command: HTTP %d %v; want 504", st, out)
	}
}
