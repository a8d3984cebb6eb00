package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
)

// BenchmarkForwardedCommand measures what forwarding adds to a command:
// a presence lookup and a NATS request/reply to the holding node, whose
// local router answers at once.
func BenchmarkForwardedCommand(b *testing.B) {
	ns := natstest.Start(b)
	var la, lb localSet
	onA := &answers{by: map[string]func(context.Context) (charging.CommandResult, error){
		"CP1": func(context.Context) (charging.CommandResult, error) {
			return charging.CommandResult{Status: charging.CommandAccepted, Answer: "Unlocked"}, nil
		},
	}}
	a := join(b, ns.URL(), "a", time.Minute, &la, onA)
	nb := join(b, ns.URL(), "b", time.Minute, &lb, nil)
	la.set("CP1", true)
	a.Hold("CP1")
	viaB := NewRouter(nb, &answers{}, sessions{})
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := viaB.Unlock(ctx, charging.Unlock{ChargerID: "CP1", ConnectorID: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHold measures recording a charger's connection (a key-value
// get of the previous record and a put).
func BenchmarkHold(b *testing.B) {
	ns := natstest.Start(b)
	var la localSet
	a := join(b, ns.URL(), "a", time.Minute, &la, nil)
	b.ResetTimer()
	for b.Loop() {
		a.Hold("CP1")
	}
}

// BenchmarkRefresh1000 measures one refresh of a node holding 1 000
// chargers: its heartbeat alone (the chargers' records are written once,
// at connect); what keeps a node's presence alive costs this every TTL/3.
func BenchmarkRefresh1000(b *testing.B) {
	ns := natstest.Start(b)
	var la localSet
	a := join(b, ns.URL(), "a", time.Hour, &la, nil)
	for i := range 1000 {
		id := fmt.Sprintf("CP%04d", i)
		la.set(id, true)
		a.Hold(id)
	}
	b.ResetTimer()
	for b.Loop() {
		a.refresh()
	}
}
