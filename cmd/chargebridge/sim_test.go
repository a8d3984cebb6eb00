package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// TestSimStandalone runs sim against a server that admits nobody: each
// kind of refusal is printed once, with its reason and what to do; then
// --register registers the chargers and tags and sessions charge.
func TestSimStandalone(t *testing.T) {
	clearEnv(t)
	s := cbtest.Start(t) // no auto-registration, no unknown tags
	ws := "ws://" + s.Addr + "/ocpp"
	out, err := runCLI(t, "sim", "--url", ws, "--chargers", "3", "--duration", "1s")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "refused (connect): the central system answered the WebSocket upgrade with HTTP 404"); n != 1 {
		t.Fatalf("the 404 refusal was printed %d times; want once:\n%s", n, out)
	}
	if !strings.Contains(out, "--register") || !regexp.MustCompile(`refused: connect \d+`).MatchString(out) {
		t.Fatalf("no hint or no count of refusals:\n%s", out)
	}

	// One charger with one connector: no driver finds a card in use
	// elsewhere (ConcurrentTx, rightly refused, would make this flaky).
	out, err = runCLI(t, "sim", "--url", ws, "--chargers", "1", "--connectors", "1", "--duration", "3s", "--register",
		"--idle", "0s-200ms", "--session", "1s", "--time-scale", "600", "--meter-interval", "500ms")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "registered at http://"+s.Addr+": chargers 1 new, 0 already registered; id tags 2") {
		t.Fatalf("--register did not say what it registered:\n%s", out)
	}
	m := regexp.MustCompile(`done: (\d+) sessions started, (\d+) completed \(charged\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary:\n%s", out)
	}
	started, _ := strconv.Atoi(m[1])
	completed, _ := strconv.Atoi(m[2])
	if completed < 1 || completed > started || strings.Contains(out, "refused") {
		t.Fatalf("started %d, completed %d; want sessions that charged and the chargers and tags registered:\n%s", started, completed, out)
	}

	// Unknown id tags are refused at Authorize, once per reason.
	out, err = runCLI(t, "sim", "--url", ws, "--chargers", "2", "--connectors", "1", "--duration", "2s", "--tags", "NOBODY-1,NOBODY-2",
		"--idle", "0s-100ms", "--prefix", "SIM-")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "refused (authorize): Authorize answered Invalid"); n != 1 || !strings.Contains(out, "done: 0 sessions started, 0 completed") {
		t.Fatalf("unknown tags: the Invalid refusal printed %d times (want 1), or sessions counted:\n%s", n, out)
	}
}

func TestRangeFlag(t *testing.T) {
	for _, tc := range []struct{ in, want string }{{"5m", "5m0s"}, {"30s-2m", "30s-2m0s"}, {"0s-100ms", "0s-100ms"}} {
		var r struct{ r sim.DurationRange }
		if err := (rangeFlag{&r.r}).Set(tc.in); err != nil || (rangeFlag{&r.r}).String() != tc.want {
			t.Errorf("Set(%q) = %v, %s; want %s", tc.in, err, rangeFlag{&r.r}, tc.want)
		}
	}
	for _, bad := range []string{"5", "2m-30s", "-1s", "soon"} {
		var r struct{ r sim.DurationRange }
		if err := (rangeFlag{&r.r}).Set(bad); err == nil || !strings.Contains(err.Error(), "such as 5m") {
			t.Errorf("Set(%q) = %v; want the duration hint", bad, err)
		}
	}
}
