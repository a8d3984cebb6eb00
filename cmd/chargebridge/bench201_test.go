package main

import "testing"

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
