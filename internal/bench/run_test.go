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
