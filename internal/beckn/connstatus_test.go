package beckn

import (
	"testing"

	"github.com/chargebridge/chargebridge/internal/beckn/evsession"
	"github.com/chargebridge/chargebridge/internal/charging"
)

func TestConnectorStatusOf(t *testing.T) {
	tests := []struct {
		a    charging.Availability
		s    charging.ConnectorState
		want evsession.ConnectorStatus
	}{
		{charging.Operative, charging.StateAvailable, evsession.ConnectorAvailable},
		{charging.Operative, charging.StateOccupied, evsession.ConnectorPreparing},
		{charging.Operative, charging.StateCharging, evsession.ConnectorUnavailable},
		{charging.Operative, charging.StateFinishing, evsession.ConnectorUnavailable},
		{charging.Operative, charging.StateReserved, evsession.ConnectorUnavailable},
		{charging.Inoperative, charging.StateAvailable, evsession.ConnectorUnavailable},
		{charging.Inoperative, charging.StateFaulted, evsession.ConnectorUnavailable},
		{"", charging.StateUnknown, evsession.ConnectorUnavailable},
	}
	for _, tt := range tests {
		t.Run(string(tt.a)+"-"+string(tt.s), func(t *testing.T) {
			if got := ConnectorStatusOf(charging.Connector{Availability: tt.a, State: tt.s}); got != tt.want {
				t.Errorf("ConnectorStatusOf(%s, %s) = %s; want %s", tt.a, tt.s, got, tt.want)
			}
		})
	}
}
