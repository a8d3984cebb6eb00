package ocpp201

import "testing"

func TestEVSEStatusFoldsItsConnectors(t *testing.T) {
	var e evseStatuses
	steps := []struct {
		evse, conn int
		status     string
		want       string
	}{
		{1, 1, "Available", "Available"},
		{1, 2, "Available", "Available"},
		{1, 1, "Occupied", "Occupied"},  // a car on the CCS cable
		{1, 2, "Available", "Occupied"}, // the CHAdeMO cable is free, the EVSE is not
		{2, 1, "Faulted", "Faulted"},    // another EVSE is its own
		{1, 2, "Unavailable", "Occupied"},
		{1, 1, "Available", "Available"},
		{1, 1, "Faulted", "Faulted"}, // one connector faulted, the other unavailable
		{1, 2, "Available", "Available"},
	}
	for i, st := range steps {
		if got := e.set("ST", st.evse, st.conn, st.status); got != st.want {
			t.Errorf("step %d: evse %d connector %d %s: EVSE %s; want %s", i, st.evse, st.conn, st.status, got, st.want)
		}
	}
	e.forget("ST")
	if got := e.set("ST", 1, 2, "Available"); got != "Available" {
		t.Errorf("after a boot: %s; want what the connector says", got)
	}
}
