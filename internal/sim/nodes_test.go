package sim

import (
	"context"
	"testing"
)

// A charger given the URLs of several nodes connects to one and, when
// that node goes away, moves to the next: the cluster's other node serves
// it.
func TestChargerMovesToTheNextNode(t *testing.T) {
	a, b := startCSMS(t), startCSMS(t)
	cfg := testConfig(t, a.URL+","+b.URL)
	runCharger(t, cfg, "CP-N")
	var at, other *testCSMS
	a.waitFor(t, "a connection at one node", func() bool {
		switch {
		case a.connected("CP-N"):
			at, other = a, b
		case b.connected("CP-N"):
			at, other = b, a
		}
		return at != nil
	})
	at.waitFor(t, "the boot at the first node", func() bool { return len(at.gotAction("CP-N", "BootNotification")) > 0 })
	// The node dies: it refuses new connections and drops this one.
	at.setRefuse(true)
	at.kick("CP-N")
	other.waitFor(t, "the charger at the other node", func() bool {
		return other.connected("CP-N") && len(other.got("CP-N")) > 0
	})
}

// A fleet spreads over the nodes it is given.
func TestFleetSpreadsOverNodes(t *testing.T) {
	a, b := startCSMS(t), startCSMS(t)
	f, err := NewFleet(testConfig(t, a.URL+", "+b.URL+"/"), 8)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	count := func(s *testCSMS) int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns)
	}
	a.waitFor(t, "8 chargers over both nodes", func() bool { return count(a)+count(b) == 8 })
	if count(a) == 0 || count(b) == 0 {
		t.Errorf("connections: %d at the first node, %d at the second; want both used", count(a), count(b))
	}
}

func TestConfigRefusesABadNodeURL(t *testing.T) {
	if _, err := NewCharger(Config{URL: "ws://127.0.0.1:1/ocpp,http://x"}, "CP-1"); err == nil {
		t.Fatal("a list with an http:// URL was accepted")
	}
}
