package ocpi

import (
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func TestEVSEStatusOf(t *testing.T) {
	tests := []struct {
		a    charging.Availability
		s    charging.ConnectorState
		want EVSEStatus
	}{
		{charging.Operative, charging.StateAvailable, "AVAILABLE"},
		{charging.Operative, charging.StateOccupied, "CHARGING"},
		{charging.Operative, charging.StateCharging, "CHARGING"},
		{charging.Operative, charging.StateSuspendedEV, "CHARGING"},
		{charging.Operative, charging.StateSuspendedEVSE, "CHARGING"},
		{charging.Operative, charging.StateFinishing, "CHARGING"},
		{charging.Operative, charging.StateReserved, "RESERVED"},
		{charging.Inoperative, charging.StateAvailable, "INOPERATIVE"},
		{charging.Inoperative, charging.StateCharging, "INOPERATIVE"},
		{charging.Inoperative, charging.StateFaulted, "OUTOFORDER"},
		{"", charging.StateUnknown, "UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(string(tt.a)+"-"+string(tt.s), func(t *testing.T) {
			if got := EVSEStatusOf(charging.Connector{Availability: tt.a, State: tt.s}); got != tt.want {
				t.Errorf("EVSEStatusOf(%s, %s) = %s; want %s", tt.a, tt.s, got, tt.want)
			}
		})
	}
}
