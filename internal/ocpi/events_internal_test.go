package ocpi

import (
	"context"
	"testing"

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
