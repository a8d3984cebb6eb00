package main

import (
	"strings"
	"testing"
	"time"
)

// TestBenchScenarios201: NAME-201 is NAME with OCPP 2.0.1 stations; an
// unknown base name stays refused.
func TestBenchScenarios201(t *testing.T) {
	scs, err := parseScenarios("saturation-201:1000,paced-201:500@2s,saturation:1000", 0)
	if err != nil || len(scs) != 3 || scs[0].Name != "saturation-201" || scs[1].Name != "paced-201" || scs[1].Interval.Seconds() != 2 || scs[2].Name != "saturation" {
		t.Fatalf("parseScenarios: %+v, %v", scs, err)
	}
	if _, err := parseScenarios("bogus-201:10", 0); err == nil {
		t.Fatal("bogus-201 accepted")
	}
}

// TestBenchNodesFlags: mixed sends commands across nodes, so it needs
// --nodes 2 or more; --nats belongs to --nodes. Each is refused before
// anything starts.
func TestBenchNodesFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--scenarios", "mixed:10"},
		{"bench", "--nodes", "1", "--scenarios", "mixed:10"},
		{"bench", "--nats", "nats://127.0.0.1:4222", "--scenarios", "idle:10"},
		{"bench", "--nodes", "-1"},
	} {
		if _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), "--nodes") {
			t.Errorf("%v: got %v; want a refusal that names --nodes", args, err)
		}
	}
	scs, err := parseScenarios(defaultNodeScenarios, 5*time.Second)
	if err != nil || len(scs) != 2 || scs[1].Name != "mixed" || scs[1].MeterInterval != 5*time.Second {
		t.Fatalf("parseScenarios(%q): %+v, %v", defaultNodeScenarios, scs, err)
	}
}

// TestBenchGeneratorFlags: the external generator runs idle, saturation
// and paced over plain ws:// against one server; anything else is refused
// before anything starts.
func TestBenchGeneratorFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--generator", "external", "--scenarios", "charging:10"},
		{"bench", "--generator", "external", "--scenarios", "saturation-201:10"},
		{"bench", "--generator", "external", "--tls", "--scenarios", "idle:10"},
		{"bench", "--generator", "external", "--nodes", "2"},
		{"bench", "--generator", "gorilla"},
	} {
		if _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), "--generator") {
			t.Errorf("%v: got %v; want a refusal that names --generator", args, err)
		}
	}
	if _, err := parseScenarios(defaultExternalScenarios, 0); err != nil {
		t.Fatalf("parseScenarios(%q): %v", defaultExternalScenarios, err)
	}
}
