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
