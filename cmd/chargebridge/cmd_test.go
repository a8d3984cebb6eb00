package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/sim"
)

func TestCmdAgainstSimulator(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	cp := runSimCharger(t, sim.Config{URL: "ws://" + s.Addr + "/ocpp", NoAutoStart: true, StepTime: time.Minute}, "SIM-CLI")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var c api.Charger
		if s.GetJSON("/api/v1/chargers/SIM-CLI", &c) == http.StatusOK && c.Connected && c.BootStatus == "Accepted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("simulated charger did not boot")
		}
		time.Sleep(20 * time.Millisecond)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"SIM-CLI", "get-config", "--key", "HeartbeatInterval"}, "HeartbeatInterval"},
		{[]string{"SIM-CLI", "unlock", "--connector", "1"}, "Unlocked"},
		{[]string{"SIM-CLI", "raw", "ClearCache", "{}"}, "Accepted"},
		{[]string{"SIM-CLI", "availability", "--connector", "0", "--inoperative"}, "Accepted"},
	}
	for _, tt := range tests {
		out, err := runCLI(t, append([]string{"cmd"}, append(tt.args, "--server", s.URL())...)...)
		if err != nil || !strings.Contains(out, tt.want) {
			t.Fatalf("cmd %v: %v\n%s; want %q in the answer", tt.args, err, out, tt.want)
		}
		var v map[string]any
		if json.Unmarshal([]byte(out), &v) != nil {
			t.Fatalf("cmd %v printed no JSON:\n%s", tt.args, out)
		}
	}
	// remote-start answers with the session, which remote-stop takes (on
	// a charger made operative again).
	if _, err := runCLI(t, "cmd", "SIM-CLI", "availability", "--connector", "0", "--operative", "--server", s.URL()); err != nil {
		t.Fatal(err)
	}
	if code := s.PostJSON("/api/v1/tags", map[string]any{"id_tag": "CLI-TAG", "status": "Accepted"}, nil); code != http.StatusCreated {
		t.Fatalf("add tag: HTTP %d", code)
	}
	out, err := runCLI(t, "cmd", "SIM-CLI", "remote-start", "--tag", "CLI-TAG", "--connector", "1", "--server", s.URL())
	var started struct {
		Status    string `json:"status"`
		SessionID string `json:"session_id"`
	}
	if err != nil || json.Unmarshal([]byte(out), &started) != nil || started.Status != "accepted" || started.SessionID == "" {
		t.Fatalf("cmd remote-start: %v\n%s; want accepted with a session_id", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var x api.Session
		if s.GetJSON("/api/v1/sessions/"+started.SessionID, &x) == http.StatusOK && x.Status == "active" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the remote start never became an active session")
		}
	}
	// Active once stored, which is before the charger has read its
	// transaction id: a remote stop sent in between is rejected.
	for deadline := time.Now().Add(10 * time.Second); !cp.Charging(1); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the charger never knew its transaction")
		}
	}
	if out, err := runCLI(t, "cmd", "SIM-CLI", "remote-stop", "--session", started.SessionID, "--server", s.URL()); err != nil || !strings.Contains(out, `"accepted"`) {
		t.Fatalf("cmd remote-stop --session: %v\n%s; want accepted", err, out)
	}
	if out, err := runCLI(t, "cmd", "SIM-CLI", "limit", "--limit", "16", "--unit", "A", "--default", "--server", s.URL()); err != nil || !strings.Contains(out, `"accepted"`) {
		t.Fatalf("cmd limit --default: %v\n%s; want accepted", err, out)
	}
	if _, err := runCLI(t, "cmd", "SIM-CLI", "reset", "--server", s.URL(), "--bogus"); err == nil {
		t.Fatal("an unknown flag was accepted")
	}
	if out, err := runCLI(t, "cmd", "GHOST", "reset", "--server", s.URL()); err == nil || !strings.Contains(err.Error(), "not registered (chargebridge chargers add GHOST)") {
		t.Fatalf("command to an unregistered charger: %v %s; want it called not registered", err, out)
	}
	if _, err := runCLI(t, "cmd", "SIM-CLI", "unlock", "--server", s.URL()); err == nil || !strings.Contains(err.Error(), "--connector") {
		t.Fatalf("unlock without --connector: %v; want --connector required", err)
	}
}

// runSimCharger runs a simulated charger until the test ends.
func runSimCharger(t *testing.T, cfg sim.Config, id string) *sim.Charger {
	t.Helper()
	ch, err := sim.NewCharger(cfg, id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ch.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ch
}
