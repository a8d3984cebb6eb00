package charging

import (
	"encoding/json"
	"testing"
)

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

// A connector's JSON keeps its fields and says its EVSE id too.
func TestConnectorJSONHasEVSEID(t *testing.T) {
	b, err := json.Marshal(Connector{ConnectorID: 2, Availability: Operative, State: StateCharging, Status: StatusCharging})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"connector_id": 2.0, "evse_id": 2.0, "status": "Charging", "availability": "Operative", "state": "Charging"} {
		if got[k] != want {
			t.Errorf("connector JSON %s = %v; want %v (in %s)", k, got[k], want, b)
		}
	}
	var back Connector
	if err := json.Unmarshal(b, &back); err != nil || back.ConnectorID != 2 || back.State != StateCharging {
		t.Errorf("decode %s: %+v, %v; want the connector back", b, back, err)
	}
}
