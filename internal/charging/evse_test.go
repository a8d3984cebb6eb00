package charging

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// An EVSE with several connectors (a DC unit with a CCS and a CHAdeMO
// cable on one power module) is what its busiest connector is: a plug-in
// on one connector followed by "Available" from the other must not make
// the EVSE look free.
func TestEVSEStatusFoldsItsConnectors(t *testing.T) {
	rows := map[[2]int]Connector{}
	steps := []struct {
		evse, conn int
		status     ConnectorStatus
		want       ConnectorStatus
	}{
		{1, 1, StatusAvailable, StatusAvailable},
		{1, 2, StatusAvailable, StatusAvailable},
		{1, 1, StatusPreparing, StatusPreparing},   // a car on the CCS cable
		{1, 2, StatusAvailable, StatusPreparing},   // the CHAdeMO cable is free, the EVSE is not
		{2, 1, StatusFaulted, StatusFaulted},       // another EVSE is its own
		{1, 1, StatusCharging, StatusCharging},     // the transaction's chargingState
		{1, 2, StatusUnavailable, StatusCharging},  // out of service beside a charging cable
		{1, 1, StatusFinishing, StatusFinishing},   // ended, still plugged in
		{1, 2, StatusReserved, StatusFinishing},    // in use beats reserved
		{1, 1, StatusAvailable, StatusReserved},    // reserved beats free
		{1, 2, StatusUnavailable, StatusAvailable}, // free beats out of service
		{1, 1, StatusFaulted, StatusFaulted},       // one faulted, the other unavailable
		{1, 2, StatusAvailable, StatusAvailable},
	}
	for i, st := range steps {
		a, s := st.status.Split()
		rows[[2]int{st.evse, st.conn}] = Connector{ChargerID: "ST", ConnectorID: st.evse, EVSEConnectorID: st.conn,
			Availability: a, State: s, Status: st.status, StatusAt: time.Unix(int64(i), 0)}
		var all []Connector
		for _, r := range rows {
			all = append(all, r)
		}
		evses := GroupEVSEs(all)
		var got ConnectorStatus
		for _, e := range evses {
			if e.ConnectorID == st.evse {
				got = e.Status
				if e.EVSEConnectorID != 0 || !e.StatusAt.Equal(time.Unix(int64(i), 0)) {
					t.Errorf("step %d: EVSE entry names connector %d, status at %v; want 0 and the newest", i, e.EVSEConnectorID, e.StatusAt)
				}
			}
		}
		if got != st.want {
			t.Errorf("step %d: evse %d connector %d %s: EVSE %s; want %s", i, st.evse, st.conn, st.status, got, st.want)
		}
	}
}

func TestGroupEVSEsAndRows(t *testing.T) {
	rows := []Connector{
		{ChargerID: "C", ConnectorID: 2, EVSEConnectorID: 1, Status: StatusAvailable},
		{ChargerID: "C", ConnectorID: 1, EVSEConnectorID: 2, Status: StatusCharging},
		{ChargerID: "C", ConnectorID: 1, EVSEConnectorID: 1, Status: StatusAvailable},
	}
	got := GroupEVSEs(rows)
	if len(got) != 2 || got[0].ConnectorID != 1 || got[1].ConnectorID != 2 {
		t.Fatalf("GroupEVSEs: got %+v; want EVSEs 1 and 2", got)
	}
	if got[0].Status != StatusCharging || len(got[0].EVSEConnectors) != 2 || got[0].EVSEConnectors[0].EVSEConnectorID != 1 {
		t.Errorf("EVSE 1: got %+v; want Charging with connectors 1 and 2 in order", got[0])
	}
	if k, ok := got[0].EVSEConnector(2); !ok || k.Status != StatusCharging {
		t.Errorf("EVSEConnector(2): got %+v, %v", k, ok)
	}
	if _, ok := got[0].EVSEConnector(3); ok {
		t.Error("EVSEConnector(3) found a connector EVSE 1 does not have")
	}
	// Stored back: the same rows, the split filled in.
	back := ConnectorRows("C", got)
	want := []Connector{
		{ChargerID: "C", ConnectorID: 1, EVSEConnectorID: 1, Availability: Operative, State: StateAvailable, Status: StatusAvailable},
		{ChargerID: "C", ConnectorID: 1, EVSEConnectorID: 2, Availability: Operative, State: StateCharging, Status: StatusCharging},
		{ChargerID: "C", ConnectorID: 2, EVSEConnectorID: 1, Availability: Operative, State: StateAvailable, Status: StatusAvailable},
	}
	if d := cmp.Diff(want, back); d != "" {
		t.Errorf("ConnectorRows (-want +got):\n%s", d)
	}
	// An entry without connectors (a 1.6 registration) is its EVSE's
	// connector 1; EVSE 0 is connector 0.
	plain := ConnectorRows("C", []Connector{{ConnectorID: 0, Status: StatusAvailable}, {ConnectorID: 3, Status: StatusFaulted}})
	if plain[0].EVSEConnectorID != 0 || plain[1].EVSEConnectorID != 1 || plain[1].State != StateFaulted {
		t.Errorf("ConnectorRows of plain entries: got %+v", plain)
	}
	if len(GroupEVSEs(nil)) != 0 || GroupEVSEs(nil) == nil {
		t.Error("GroupEVSEs(nil): want an empty, non-nil list")
	}
	if e := FoldEVSE(nil); e.ConnectorID != 0 || e.EVSEConnectors != nil {
		t.Errorf("FoldEVSE(nil): got %+v", e)
	}
}
