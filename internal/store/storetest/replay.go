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

// testPruneEvents: retention deletes the old events of one kind only.
func testPruneEvents(t *testing.T, open func(t *testing.T) charging.Store) {
	s := open(t)
	p, ok := s.(interface {
		PruneEvents(ctx context.Context, kind string, before time.Time, limit int) (int64, error)
	})
	if !ok {
		t.Fatal("the store cannot prune events (PruneEvents)")
	}
	ctx := t.Context()
	if err := s.CreateCharger(ctx, charging.Charger{ID: "CP-PRUNE", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	for i, e := range []charging.ChargerEvent{
		{Kind: charging.EventDataTransfer, At: t0},
		{Kind: charging.EventDataTransfer, At: t0.Add(time.Hour)},
		{Kind: charging.EventDataTransfer, At: t0.Add(2 * time.Hour)},
		{Kind: charging.EventFirmwareStatus, At: t0},
	} {
		e.ChargerID, e.Payload = "CP-PRUNE", []byte(`{"n":`+string(rune('0'+i))+`}`)
		if err := s.RecordEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	n, err := p.PruneEvents(ctx, charging.EventDataTransfer, t0.Add(90*time.Minute), 1000)
	if err != nil || n != 2 {
		t.Fatalf("PruneEvents = %d, %v; want 2", n, err)
	}
	evs, err := s.ListEvents(ctx, "CP-PRUNE", 10)
	if err != nil || len(evs) != 2 {
		t.Fatalf("events left: %+v, %v; want the newest DataTransfer and the firmware status", evs, err)
	}
	for _, e := range evs {
		if e.Kind == charging.EventDataTransfer && !e.At.Equal(t0.Add(2*time.Hour)) {
			t.Fatalf("kept DataTransfer at %s; want only the one at %s", e.At, t0.Add(2*time.Hour))
		}
	}
}
