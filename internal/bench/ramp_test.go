package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTallyGroupsReasonsAcrossDialers counts failed dials by reason: the
// dialer's own address and port, which differ per attempt, do not make
// each attempt a reason of its own.
func TestTallyGroupsReasonsAcrossDialers(t *testing.T) {
	var tl tally
	tl.add("connect", "cannot connect: read tcp 127.0.0.2:41234->127.0.0.1:8080: i/o timeout")
	tl.add("connect", "cannot connect: read tcp 127.0.0.2:41999->127.0.0.1:8080: i/o timeout")
	tl.add("connect", "the central system answered the WebSocket upgrade with HTTP 503 Service Unavailable")
	tl.add("boot", "BootNotification answered Pending")
	top, rest := tl.top(2)
	want := "2× connect: cannot connect: read tcp 127.0.0.1:8080: i/o timeout; 1× boot: BootNotification answered Pending"
	if top != want || rest != 1 {
		t.Fatalf("got %q and %d others; want %q and 1 other", top, rest, want)
	}
	var none *tally
	none.add("connect", "x") // a load without a tally (the external generator)
}

// TestRampLineSaysRateAndReasons checks one progress line of a worker.
func TestRampLineSaysRateAndReasons(t *testing.T) {
	var tl tally
	tl.add("connect", "the central system answered the WebSocket upgrade with HTTP 503 Service Unavailable")
	got := rampLine("B0-", 60*time.Second, 1000, loadStats{Connected: 600, Connects: 610, Disconnects: 10, DialErrors: 1},
		loadStats{Connected: 300}, 30*time.Second, &tl)
	for _, s := range []string{"worker B0-   60s: 600 of 1000 connected (+10/s)", "610 connects, 10 disconnects, 1 failed dials",
		"refusals: 1× connect: the central system answered the WebSocket upgrade with HTTP 503"} {
		if !strings.Contains(got, s) {
			t.Errorf("got %q; want it to contain %q", got, s)
		}
	}
}

// TestWatchNodesSkipsANodeThatDoesNotAnswer sums the nodes' counters
// between two lines; a node whose metrics cannot be read is named and not
// counted as zero (which made the next line's differences negative).
func TestWatchNodesSkipsANodeThatDoesNotAnswer(t *testing.T) {
	page := "chargebridge_chargers_connected 40\nchargebridge_ocpp_connections_accepted_total 50\n" +
		"chargebridge_ocpp_connections_refused_total 3\nchargebridge_ocpp_handshakes_abandoned_total 2\n"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(page)) }))
	defer up.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) }))
	defer down.Close()
	self := exec.Command("sleep", "30")
	if err := self.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	defer func() { _ = self.Process.Kill(); _ = self.Wait() }()
	nodes := []*node{
		{id: "n1", addr: strings.TrimPrefix(up.URL, "http://"), cmd: self},
		{id: "n2", addr: strings.TrimPrefix(down.URL, "http://"), cmd: self},
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuilder
	done := make(chan struct{})
	go func() { defer close(done); watchNodes(ctx, nodes, 10*time.Millisecond, &out) }()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "\n") && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	first, _, _ := strings.Cut(out.String(), "\n")
	for _, s := range []string{": 40 held, 50 accepted", "3 refused, 2 gave up", "no metrics from n2 (not counted)"} {
		if !strings.Contains(first, s) {
			t.Errorf("got %q; want it to contain %q", first, s)
		}
	}
}

// syncBuilder is a strings.Builder safe for one writer and one reader.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
