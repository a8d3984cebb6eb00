package ocpp16

import (
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func TestRateUnit(t *testing.T) {
	for in, want := range map[string]charging.LimitUnit{"Current": "A", "Current,Power": "W", " power ": "W", "": "A", "Watts": "A", "A,W": "W", "A": "A"} {
		if got := RateUnit(in); got != want {
			t.Errorf("RateUnit(%q) = %s; want %s", in, got, want)
		}
	}
}
