package ocpp16

import (
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func TestRateUnit(t *testing.T) {
	for in, want := range map[string]charging.LimitUnit{"Current": "A", "Current,Power": "W", " power ": "W", "": "A", "Watts": "A"} {
		if got := rateUnit(in); got != want {
			t.Errorf("rateUnit(%q) = %s; want %s", in, got, want)
		}
	}
}
