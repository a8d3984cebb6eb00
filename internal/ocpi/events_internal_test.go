package ocpi

import (
	"context"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// TestTelemetryWakesOncePerMark: the telemetry flush is woken when a
// transaction is marked, not again for each MeterValues of a transaction
// marked already (which cost a scan of every marked transaction per
// MeterValues).
func TestTelemetryWakesOncePerMark(t *testing.T) {
	c := &CPO{ctx: context.Background(), evq: &evQueue{telemetry: map[txRef]bool{}, signal: make(chan struct{}, 1)}}
	ev := func(tx string) charging.Event {
		return charging.Event{Kind: charging.SessionChanged, ChargerID: "cp-1", TransactionID: tx}
	}
	woken := func() bool {
		select {
		case <-c.evq.signal:
			return true
		default:
			return false
		}
	}
	c.onEvent(ev("1"))
	if !woken() {
		t.Fatal("a transaction newly marked did not wake the flush")
	}
	c.onEvent(ev("1"))
	if woken() {
		t.Error("a MeterValues of a transaction marked already woke the flush")
	}
	c.onEvent(ev("2"))
	if !woken() {
		t.Error("another transaction newly marked did not wake the flush")
	}
}

// TestFirstTelemetryWaitsAnInterval: meter values of a transaction this
// node has never pushed are due one SessionPatchInterval after it first
// saw them (the session's own push carries the first ones), then once per
// interval.
func TestFirstTelemetryWaitsAnInterval(t *testing.T) {
	c := &CPO{ctx: context.Background(), cfg: Config{SessionPatchInterval: time.Minute},
		evq: &evQueue{telemetry: map[txRef]bool{}, signal: make(chan struct{}, 1)}}
	st := &evState{lastPatch: map[txRef]time.Time{}}
	tx := txRef{"cp-1", "1"}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	c.onEvent(charging.Event{Kind: charging.SessionChanged, ChargerID: tx.charger, TransactionID: tx.tx})
	for _, step := range []struct {
		at   time.Duration
		want int
	}{{0, 0}, {59 * time.Second, 0}, {time.Minute, 1}} {
		due := c.dueTelemetry(st, t0.Add(step.at))
		if len(due) != step.want {
			t.Fatalf("at +%v: %d due, want %d", step.at, len(due), step.want)
		}
	}
	if c.evq.telemetry[tx] {
		t.Error("the transaction is still marked after it was due")
	}
}
