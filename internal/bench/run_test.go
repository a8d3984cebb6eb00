package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseMetrics(t *testing.T) {
	page := `# HELP chargebridge_store_commit_seconds x
# TYPE chargebridge_store_commit_seconds histogram
chargebridge_store_commit_seconds_bucket{le="0.001"} 3
chargebridge_store_commit_seconds_sum 0.25
chargebridge_store_commit_seconds_count 12
go_goroutines 7
`
	got := parseMetrics([]byte(page))
	want := map[string]float64{"chargebridge_store_commit_seconds_sum": 0.25, "chargebridge_store_commit_seconds_count": 12, "go_goroutines": 7}
	if len(got) != len(want) {
		t.Fatalf("got %v; want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("got %s = %v; want %v", k, got[k], v)
		}
	}
}

func TestCPUTimeGrowsWithWork(t *testing.T) {
	before := cpuTime(os.Getpid())
	// Spin until the kernel has counted at least one tick for us.
	for deadline := time.Now().Add(5 * time.Second); cpuTime(os.Getpid()) == before && time.Now().Before(deadline); {
	}
	if after := cpuTime(os.Getpid()); after <= before {
		t.Fatalf("got CPU time %v after spinning, %v before; want it to grow", after, before)
	}
}

func TestRatiosAgainstTheCeiling(t *testing.T) {
	sc := Scenario{Name: "saturation", Chargers: 10}
	r := &Report{Results: []Result{
		{Scenario: sc, Target: "chargebridge", CallsPerSec: 800, P50ms: 3, P99ms: 9, CPUPerCallUs: 50},
		{Scenario: sc, Target: "ceiling", CallsPerSec: 1000, P50ms: 1, P99ms: 4, CPUPerCallUs: 20},
	}}
	var b strings.Builder
	r.writeRatios(&b)
	if !strings.Contains(b.String(), "calls/s 0.800, p50 +2.00 ms, p99 +5.00 ms") {
		t.Fatalf("got %q; want the ratio 0.800 and the added p50 and p99", b.String())
	}
}

// TestRatiosPairEachRunWithItsCeiling: a scenario run twice (--repeat) is
// compared each time with the ceiling measured right after it, not with
// the last ceiling of that scenario, and gets the median of its ratios.
func TestRatiosPairEachRunWithItsCeiling(t *testing.T) {
	sc := Scenario{Name: "saturation", Chargers: 10}
	r := &Report{Results: []Result{
		{Scenario: sc, Pair: 0, Target: "chargebridge", CallsPerSec: 900},
		{Scenario: sc, Pair: 0, Target: "ceiling", CallsPerSec: 1000},
		{Scenario: sc, Pair: 1, Target: "chargebridge", CallsPerSec: 600},
		{Scenario: sc, Pair: 1, Target: "ceiling", CallsPerSec: 1000},
		{Scenario: sc, Pair: 2, Target: "chargebridge", CallsPerSec: 1400},
		{Scenario: sc, Pair: 2, Target: "ceiling", CallsPerSec: 2000},
	}}
	var b strings.Builder
	r.writeRatios(&b)
	for _, want := range []string{"calls/s 0.900,", "calls/s 0.600,", "calls/s 0.700,",
		"saturation 10: median chargebridge/ceiling calls/s over 3 pairs 0.700 (0.600 to 0.900)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("got %q; want %q in it", b.String(), want)
		}
	}
}
