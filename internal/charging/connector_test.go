package charging

import "testing"

// StatusOf and Split are inverses on every status word, and StatusOf
// gives a fault precedence over being out of service.
func TestConnectorStatusSplit(t *testing.T) {
	words := []ConnectorStatus{StatusAvailable, StatusPreparing, StatusCharging, StatusSuspendedEV,
		StatusSuspendedEVSE, StatusFinishing, StatusReserved, StatusUnavailable, StatusFaulted, StatusUnknown}
	for _, w := range words {
		t.Run(string(w), func(t *testing.T) {
			a, s := w.Split()
			if got := StatusOf(a, s); got != w {
				t.Errorf("StatusOf(%q.Split()) = %q; want %q", w, got, w)
			}
		})
	}
	tests := []struct {
		a    Availability
		s    ConnectorState
		want ConnectorStatus
	}{
		{Inoperative, StateFaulted, StatusFaulted},
		{Operative, StateFaulted, StatusFaulted},
		{Inoperative, StateOccupied, StatusUnavailable},
		{Inoperative, StateCharging, StatusUnavailable},
		{Operative, StateOccupied, StatusPreparing},
		{Operative, "", StatusUnknown},
	}
	for _, tt := range tests {
		t.Run(string(tt.a)+"-"+string(tt.s), func(t *testing.T) {
			if got := StatusOf(tt.a, tt.s); got != tt.want {
				t.Errorf("StatusOf(%q, %q) = %q; want %q", tt.a, tt.s, got, tt.want)
			}
		})
	}
}
