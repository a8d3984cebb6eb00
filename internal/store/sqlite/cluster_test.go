package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestNextSeqSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cb.db")
	s := openAt(t, path)
	ctx := t.Context()
	var last int64
	for range 3 {
		n, err := s.NextSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n <= last {
			t.Fatalf("NextSeq: got %d after %d; want larger", n, last)
		}
		last = n
	}
	if min := time.Now().Add(-time.Hour).UnixMicro(); last < min {
		t.Errorf("NextSeq: got %d; want at least %d (microseconds since the epoch)", last, min)
	}
	s.Close()
	s = openAt(t, path)
	n, err := s.NextSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n <= last {
		t.Errorf("NextSeq after a restart: got %d after %d; want larger", n, last)
	}
}

func TestLeasesAndLocks(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if ok, err := s.AcquireLease(ctx, "q", "a", time.Hour); err != nil || !ok {
		t.Fatalf("AcquireLease of a free lease: %v, %v", ok, err)
	}
	if ok, err := s.AcquireLease(ctx, "q", "b", time.Hour); err != nil || ok {
		t.Fatalf("AcquireLease of a held lease: %v, %v; want false", ok, err)
	}
	if err := s.ReleaseLease(ctx, "q", "a"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.AcquireLease(ctx, "q", "b", time.Hour); err != nil || !ok {
		t.Fatalf("AcquireLease of a released lease: %v, %v", ok, err)
	}
	unlock, err := s.Lock(ctx, "order-1")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(wctx, "order-1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a held key: got %v; want it to wait until its deadline", err)
	}
	unlock()
	if u, err := s.Lock(ctx, "order-1"); err != nil {
		t.Fatal(err)
	} else {
		u()
	}
	if lead, err := s.Lead(ctx, "expiry"); err != nil || !lead {
		t.Fatalf("Lead: %v, %v; want the one process to lead", lead, err)
	}
}

// TestLeasesEndWithTheProcess: the one process of a SQLite file holds
// every lease, so a restart does not wait for a dead run's to expire.
func TestLeasesEndWithTheProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cb.db")
	s := openAt(t, path)
	if ok, err := s.AcquireLease(t.Context(), "q", "old-run", time.Hour); err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}
	s.Close()
	s = openAt(t, path)
	if ok, err := s.AcquireLease(t.Context(), "q", "new-run", time.Hour); err != nil || !ok {
		t.Fatalf("AcquireLease after a restart: %v, %v; want the lease", ok, err)
	}
}
