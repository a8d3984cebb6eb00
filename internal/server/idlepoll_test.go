package server_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
)

// TestIdleChargersHoldNoGoroutine: on Linux an idle charger's socket is
// parked with the OCPP server's epoll poller, so a hundred idle chargers
// add no goroutine per charger (each held one, 2 to 4 KB of stack, before).
// Parked chargers still answer, and one that hangs up is noticed.
func TestIdleChargersHoldNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the idle poller is Linux only")
	}
	s := cbtest.Start(t, cbtest.AutoRegister)
	boot := map[string]any{"chargePointVendor": "test", "chargePointModel": "idle"}
	first := s.MustDial("IDLE-FIRST")
	first.Call("BootNotification", boot)
	settled := func(want func(int) bool) int {
		var n int
		deadline := time.Now().Add(10 * time.Second)
		for n = runtime.NumGoroutine(); !want(n) && time.Now().Before(deadline); n = runtime.NumGoroutine() {
			time.Sleep(10 * time.Millisecond)
		}
		return n
	}
	before := runtime.NumGoroutine()
	const chargers = 100
	clients := make([]*cbtest.Client, chargers)
	for i := range clients {
		clients[i] = s.MustDial(fmt.Sprintf("IDLE-%03d", i))
		if ans := string(clients[i].Call("BootNotification", boot)); !strings.HasPrefix(ans, "[3,") {
			t.Fatalf("BootNotification answered %s", ans)
		}
	}
	got := settled(func(n int) bool { return n-before < chargers/2 })
	t.Logf("%d idle chargers: %d more goroutines", chargers, got-before)
	if got-before >= chargers/2 {
		t.Fatalf("got %d more goroutines with %d idle chargers; want fewer than %d (none per charger)", got-before, chargers, chargers/2)
	}
	for i, c := range clients {
		if ans := string(c.Call("Heartbeat", map[string]any{})); !strings.HasPrefix(ans, "[3,") {
			t.Fatalf("charger %d: Heartbeat answered %s", i, ans)
		}
	}
	for _, c := range clients[:chargers/2] {
		c.Close()
	}
	waitFor(t, "the chargers that hung up to be disconnected", func() bool {
		for i := range chargers {
			if s.OCPP().Connected(fmt.Sprintf("IDLE-%03d", i)) != (i >= chargers/2) {
				return false
			}
		}
		return true
	})
}
