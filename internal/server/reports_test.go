package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
)

// Every report a charger sends besides sessions is answered and kept.
func TestChargerReportsAreRecorded(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	c := s.MustDial("CP-REP")
	boot(t, c)
	reports := []struct {
		action  string
		payload map[string]any
		answer  string // a field the answer must carry, "" for an empty answer
	}{
		{"DataTransfer", map[string]any{"vendorId": "com.acme", "messageId": "x", "data": "hello"}, "status"},
		{"DiagnosticsStatusNotification", map[string]any{"status": "Uploaded"}, ""},
		{"FirmwareStatusNotification", map[string]any{"status": "Installed"}, ""},
		{"SecurityEventNotification", map[string]any{"type": "FirmwareUpdated", "timestamp": "2026-11-21T10:00:00Z"}, ""},
		{"SignedFirmwareStatusNotification", map[string]any{"status": "Downloaded", "requestId": 3}, ""},
		{"LogStatusNotification", map[string]any{"status": "Uploaded", "requestId": 4}, ""},
		{"SignCertificate", map[string]any{"csr": "-----BEGIN CERTIFICATE REQUEST-----"}, "status"},
	}
	for _, r := range reports {
		var conf map[string]any
		c.MustCall(r.action, r.payload, &conf)
		if r.answer != "" && conf[r.answer] == nil {
			t.Fatalf("%s answered %v; want a %s", r.action, conf, r.answer)
		}
	}
	var evs struct {
		Items []struct {
			Kind string `json:"kind"`
		} `json:"items"`
	}
	if st := s.GetJSON("/api/v1/chargers/CP-REP/events", &evs); st != http.StatusOK {
		t.Fatalf("events: HTTP %d", st)
	}
	kinds := map[string]bool{}
	for _, e := range evs.Items {
		kinds[e.Kind] = true
	}
	for _, r := range reports {
		if !kinds[r.action] {
			t.Errorf("%s was not recorded; events = %v", r.action, kinds)
		}
	}
}

// The server pings a quiet charger and drops one that stays silent.
func TestKeepalive(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.PingInterval = 2 * time.Second }))
	d := ws.Dialer{Protocols: []string{"ocpp1.6"}}
	conn, _, _, err := d.Dial(t.Context(), "ws://"+s.Addr+"/ocpp/CP-QUIET")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Read without answering pings: the first frame must be a ping, and
	// then the server must give up on us.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	gotPing := false
	for {
		h, err := ws.ReadHeader(conn)
		if err != nil {
			break
		}
		payload := make([]byte, h.Length)
		if _, err := conn.Read(payload); err != nil && h.Length > 0 {
			break
		}
		if h.OpCode == ws.OpPing {
			gotPing = true
		}
		if h.OpCode == ws.OpClose {
			break
		}
	}
	if !gotPing {
		t.Fatal("no ping came from the server")
	}
	waitFor(t, "the silent charger to be unregistered", func() bool { return !s.OCPP().Connected("CP-QUIET") })

	// A charger that answers pings stays.
	live, _, _, err := d.Dial(t.Context(), "ws://"+s.Addr+"/ocpp/CP-LIVELY")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		_ = live.SetReadDeadline(deadline)
		if _, _, err := wsutil.ReadServerData(live); err != nil { // answers pings itself
			break
		}
	}
	if !s.OCPP().Connected("CP-LIVELY") {
		t.Fatal("a charger that answered every ping was dropped")
	}
}
