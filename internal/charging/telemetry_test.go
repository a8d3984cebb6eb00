package charging_test

import (
	"context"
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// A MeterValues event names its session by id, also after a restart (the
// core's memory of open transactions is empty then and is filled from the
// store once).
func TestTelemetryEventsNameTheirSession(t *testing.T) {
	c := newCore(t, charging.Config{AcceptUnknownTags: true})
	c.charger(t, "cp-1")
	res := c.start(t, charging.StartRequest{ChargerID: "cp-1", ConnectorID: 1, IDTag: "T", MeterStartWh: 1000})
	tx := res.Session.TransactionID
	meter := func(c *core, kwh float64) charging.Event {
		t.Helper()
		c.take()
		err := c.svc.MeterValues(context.Background(), charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &tx,
			Samples: []charging.MeterSample{{Timestamp: t0, Values: []charging.SampledValue{register(kwh, "")}}}})
		if err != nil {
			t.Fatal(err)
		}
		evs := c.take()
		if len(evs) != 1 {
			t.Fatalf("%d events; want 1", len(evs))
		}
		return evs[0]
	}
	if e := meter(c, 2); e.SessionID != res.Session.ID || e.TransactionID != tx || e.Session != nil {
		t.Errorf("telemetry event %+v; want session %s, transaction %s, no body", e, res.Session.ID, tx)
	}
	restarted := newCoreOn(t, c.store, charging.Config{AcceptUnknownTags: true})
	if e := meter(restarted, 3); e.SessionID != res.Session.ID {
		t.Errorf("after a restart: telemetry event names session %q; want %s", e.SessionID, res.Session.ID)
	}
}
