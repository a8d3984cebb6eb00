package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// replayStore is what Beckn's replay protection needs of a store.
type replayStore interface {
	ClaimMessage(ctx context.Context, bapID, messageID string, now, expires time.Time) (bool, error)
}

// testReplay: a (bap, message id) claim is refused while it lasts, also
// by a second open of the store (a restart, or another node), and taken
// again once expired; other BAPs and ids are independent.
func testReplay(t *testing.T, open func(t *testing.T) charging.Store) {
	a, ok := open(t).(replayStore)
	if !ok {
		t.Fatal("the store does not keep Beckn message ids (ClaimMessage)")
	}
	ctx := t.Context()
	exp := t0.Add(time.Minute)
	claim := func(s replayStore, bap, msg string, now time.Time, want bool) {
		t.Helper()
		got, err := s.ClaimMessage(ctx, bap, msg, now, now.Add(time.Minute))
		if err != nil || got != want {
			t.Fatalf("ClaimMessage(%s, %s, %s) = %v, %v; want %v", bap, msg, now.Format(time.TimeOnly), got, err, want)
		}
	}
	claim(a, "bap.a", "m-1", t0, true)
	claim(a, "bap.a", "m-1", t0.Add(time.Second), false)
	claim(a, "bap.b", "m-1", t0, true)
	claim(a, "bap.a", "m-2", t0, true)
	b := open(t).(replayStore)
	claim(b, "bap.a", "m-1", t0.Add(2*time.Second), false)
	claim(b, "bap.a", "m-1", exp, true) // expired: a new signature may carry it
	claim(a, "bap.a", "m-1", exp.Add(time.Second), false)
}
