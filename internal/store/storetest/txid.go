package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// txNum is a transaction id the store drew from its sequence (1.6), as a
// number; it fails the test for one that is not decimal.
func txNum(t *testing.T, tx string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(tx, 10, 64)
	if err != nil {
		t.Fatalf("transaction id %q: want a decimal number drawn from the store's sequence", tx)
	}
	return n
}

// testTransactionIDsPerCharger: a transaction id is unique per charger, not
// across them. Two chargers may each have a transaction "1" (2.0.1 stations
// name their own), and what one charger sends naming it reaches its own
// session only. Ids the store draws (1.6) come from one sequence.
func testTransactionIDsPerCharger(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	for _, id := range []string{"cp-a", "cp-b", "cp-c", "cp-d"} {
		createCharger(t, st, id)
	}
	var s starter
	ra, rb := s.req("cp-a", 1, "TAG"), s.req("cp-b", 1, "TAG")
	ra.TransactionID, rb.TransactionID = "1", "1"
	a, b := start(t, st, ra), start(t, st, rb)
	if a.TransactionID != "1" || b.TransactionID != "1" {
		t.Fatalf("given transaction ids: got %q and %q; want \"1\" twice", a.TransactionID, b.TransactionID)
	}
	for _, want := range []charging.Session{a, b} {
		got, err := st.SessionByTransaction(ctx(t), want.ChargerID, "1")
		if err != nil || got.ID != want.ID {
			t.Errorf("SessionByTransaction(%s, 1): got %s, %v; want %s", want.ChargerID, got.ID, err, want.ID)
		}
	}
	_, err := st.SessionByTransaction(ctx(t), "cp-c", "1")
	wantErr(t, "SessionByTransaction of another charger's transaction", err, charging.ErrNotFound)

	again := s.req("cp-a", 2, "TAG")
	again.TransactionID = "1"
	_, _, err = st.StartSession(ctx(t), again)
	wantErr(t, "a second start of transaction 1 on cp-a", err, charging.ErrExists)

	tx := "1"
	if !appendValues(t, st, charging.MeterValues{ChargerID: "cp-a", ConnectorID: 1, TransactionID: &tx,
		Samples: []charging.MeterSample{sample(at(time.Hour), register(50))}, ReceivedAt: at(time.Hour)}) {
		t.Errorf("cp-a's meter values for its transaction 1: not found")
	}
	if got := getSession(t, st, b.ID); got.LastRegisterWh != b.LastRegisterWh {
		t.Errorf("cp-a's meter values changed cp-b's transaction 1: register %v; want %v", got.LastRegisterWh, b.LastRegisterWh)
	}
	if got := getSession(t, st, a.ID); got.LastRegisterWh != 50000 {
		t.Errorf("cp-a's transaction 1: register %v; want 50000", got.LastRegisterWh)
	}
	stopped, err := st.StopSession(ctx(t), stopReq(b, b.MeterStartWh+10, "Local"))
	if err != nil || stopped.ID != b.ID {
		t.Fatalf("StopSession(cp-b, 1): got %s, %v; want %s", stopped.ID, err, b.ID)
	}
	if got := getSession(t, st, a.ID); got.Status != charging.SessionActive || got.MeterStopWh != nil {
		t.Errorf("cp-b's stop of its transaction 1 reached cp-a's: %s, meter stop %v", got.Status, got.MeterStopWh)
	}

	c, d := start(t, st, s.req("cp-c", 1, "TAG")), start(t, st, s.req("cp-d", 1, "TAG"))
	if txNum(t, c.TransactionID) == txNum(t, d.TransactionID) {
		t.Errorf("drawn transaction ids: cp-c and cp-d both got %s; want one sequence", c.TransactionID)
	}
}

// testDrawSkipsTakenIDs: a number the store draws (1.6) is never an id the
// charger already has as one of its own: a charger that ran OCPP 2.0.1 and
// named its transactions "n+1", "n+2", … and then speaks 1.6 again gets a
// fresh number, not ErrExists.
func testDrawSkipsTakenIDs(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	createCharger(t, st, "cp-a")
	createCharger(t, st, "cp-b")
	var s starter
	first := start(t, st, s.req("cp-a", 1, "TAG"))
	n := txNum(t, first.TransactionID)
	// The station's own ids under 2.0.1: the next numbers the sequence
	// would give (several, should another test draw meanwhile).
	taken := map[string]bool{}
	for i := int64(1); i <= 5; i++ {
		r := s.req("cp-a", 2, "TAG-201")
		r.TransactionID = strconv.FormatInt(n+i, 10)
		taken[start(t, st, r).TransactionID] = true
	}
	next := start(t, st, s.req("cp-a", 1, "TAG"))
	if taken[next.TransactionID] || txNum(t, next.TransactionID) <= n {
		t.Errorf("drawn after the station's own ids %v: got %s; want a number past them", taken, next.TransactionID)
	}
	// Another charger may have those numbers: it draws from the same
	// sequence, past what cp-a took.
	other := start(t, st, s.req("cp-b", 1, "TAG"))
	if other.TransactionID == next.TransactionID {
		t.Errorf("cp-b drew %s, the number cp-a just drew", other.TransactionID)
	}
}

// testSessionConnector: a session records the connector within its EVSE
// it charges on, also when its start takes over a reservation (which
// names the EVSE only).
func testSessionConnector(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	createCharger(t, st, "cp-a")
	var s starter
	r := s.req("cp-a", 1, "TAG")
	r.TransactionID, r.EVSEConnectorID = "TX-1", 2
	got := getSession(t, st, start(t, st, r).ID)
	if got.ConnectorID != 1 || got.EVSEConnectorID != 2 {
		t.Errorf("started on EVSE 1 connector 2: got EVSE %d connector %d", got.ConnectorID, got.EVSEConnectorID)
	}
	fs, ok := st.(charging.FullStore)
	if !ok {
		t.Skip("store keeps no reservations")
	}
	rid := int64(77)
	res := charging.Session{ID: "res-77", ChargerID: "cp-a", ConnectorID: 3, IDTag: "TAG-R", Status: charging.SessionReserved,
		ReservationID: &rid, StartedAt: t0, ExpiresAt: ptr(at(time.Hour)), LastUpdated: t0}
	if err := fs.CreateSession(ctx(t), res); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if got := getSession(t, st, "res-77"); got.EVSEConnectorID != 0 {
		t.Errorf("reservation of EVSE 3: connector %d; want 0 (not known yet)", got.EVSEConnectorID)
	}
	r = s.req("cp-a", 3, "TAG-R")
	r.ReservationID, r.TransactionID, r.EVSEConnectorID = &rid, "TX-2", 2
	took := start(t, st, r)
	if got := getSession(t, st, took.ID); got.ID != "res-77" || got.EVSEConnectorID != 2 {
		t.Errorf("start taking over reservation 77 on connector 2: got session %s connector %d; want res-77, 2", got.ID, got.EVSEConnectorID)
	}
}
