package ocpp201

import (
	"testing"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// TestTxCache: a transaction's cached state serves only the connection
// that stored it (after a reconnection the document is read again), a
// caller's changes to its copy do not reach the cache, and an ended
// transaction leaves it.
func TestTxCache(t *testing.T) {
	var c txCache
	a, b := &ocpp.Conn{}, &ocpp.Conn{}
	c.put("CS/1", a, txState{Tx: 7, Upto: 3, Above: []int64{5}})
	st, ok := c.get("CS/1", a)
	if !ok || st.Tx != 7 || st.Upto != 3 {
		t.Fatalf("get by the storing connection = %+v, %v; want the stored state", st, ok)
	}
	st.Above[0] = 99
	st.mark(3)
	if again, _ := c.get("CS/1", a); again.Above[0] != 5 || again.Upto != 3 {
		t.Errorf("cached state changed through a caller's copy: %+v", again)
	}
	if _, ok := c.get("CS/1", b); ok {
		t.Error("another connection got the cached state; want a miss (the document is read again)")
	}
	if _, ok := c.get("CS/2", a); ok {
		t.Error("an unknown transaction hit the cache")
	}
	c.put("CS/1", a, txState{Tx: 7, Ended: true})
	if _, ok := c.get("CS/1", a); ok {
		t.Error("an ended transaction stayed in the cache")
	}
}
