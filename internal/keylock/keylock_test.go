package keylock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestMap(t *testing.T) {
	var m Map
	ctx := t.Context()
	unlock, err := m.Lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	other, err := m.Lock(ctx, "b")
	if err != nil {
		t.Fatalf("Lock of another key: %v", err)
	}
	other()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := m.Lock(wctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a held key: got %v; want it to wait until its deadline", err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := m.Lock(ctx, "a")
		if err == nil {
			u()
		}
		got <- err
	}()
	unlock()
	if err := <-got; err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	if n := m.Len(); n != 0 {
		t.Errorf("keys kept after every unlock: got %d; want 0", n)
	}
}
