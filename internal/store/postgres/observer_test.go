package postgres

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// WithCommitObserver times writes (statements and batches), not reads.
func TestCommitObserver(t *testing.T) {
	dsn := pgtest.Schema(t)
	var n atomic.Int64
	ctx := context.Background()
	s, err := Open(ctx, dsn, WithCommitObserver(func(d time.Duration) {
		if d <= 0 {
			t.Errorf("commit observed with duration %v", d)
		}
		n.Add(1)
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n.Store(0) // migrations
	if err := s.CreateCharger(ctx, charging.Charger{ID: "CP-OBS", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("after one write: %d commits observed; want 1", got)
	}
	if _, err := s.GetCharger(ctx, "CP-OBS"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListChargers(ctx); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("reads were observed as commits: %d; want 1", got)
	}
	if _, _, err := s.StartSession(ctx, charging.StartSession{ID: "S-OBS", StartKey: "k-obs", ChargerID: "CP-OBS", ConnectorID: 1, IDTag: "T", Status: charging.SessionActive, StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got < 2 {
		t.Fatalf("a session start (a batch) was not observed: %d", got)
	}
}
