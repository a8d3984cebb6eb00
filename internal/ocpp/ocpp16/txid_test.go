package ocpp16

import "testing"

// TestConnStateKeepsTheTransactionID: a connection's MeterValues naming
// the transaction of the one before take its core id without formatting
// it again, and one naming another transaction gets its own.
func TestConnStateKeepsTheTransactionID(t *testing.T) {
	var st connState
	tx := func(n int64) *int64 { return &n }
	if got := st.coreTx(nil); got != nil {
		t.Fatalf("no transaction: %q; want nil", *got)
	}
	first := st.coreTx(tx(4711))
	if first == nil || *first != "4711" {
		t.Fatalf("transaction 4711: %v; want 4711", first)
	}
	if again := st.coreTx(tx(4711)); again != first {
		t.Errorf("transaction 4711 again: a new id %p; want the kept one %p", again, first)
	}
	if other := st.coreTx(tx(4712)); other == nil || *other != "4712" {
		t.Errorf("transaction 4712: %v; want 4712", other)
	}
	if got := st.coreTx(nil); got != nil {
		t.Errorf("no transaction after one: %q; want nil", *got)
	}
	if back := st.coreTx(tx(4711)); back == nil || *back != "4711" {
		t.Errorf("transaction 4711 after 4712: %v; want 4711", back)
	}
}
