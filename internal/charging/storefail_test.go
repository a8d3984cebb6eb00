package charging_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// When the store fails (here: it was closed under the Service), every
// operation returns the failure instead of answering as if all was well,
// and announces nothing. A charger is never told "Accepted" for a change
// that was not kept.
func TestStoreFailureIsReturned(t *testing.T) {
	c := newCore(t, charging.Config{AutoRegister: true, AcceptUnknownTags: true})
	ctx := context.Background()
	c.charger(t, "cp-1")
	c.tag(t, charging.IDTag{ID: "T"})
	res := c.start(t, charging.StartRequest{ChargerID: "cp-1", ConnectorID: 1, IDTag: "T"})
	tx := res.Session.TransactionID
	if err := c.svc.SetTolerance(ctx, charging.Tolerance{ChargerID: "cp-1", Tolerate: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.store.Close(); err != nil {
		t.Fatal(err)
	}
	c.take()
	tests := []struct {
		name string
		call func() error
	}{
		{"admit", func() error { _, err := c.svc.Admit(ctx, "cp-new"); return err }},
		{"register-charger", func() error { _, err := c.svc.RegisterCharger(ctx, charging.Charger{ID: "cp-2"}); return err }},
		{"delete-charger", func() error { return c.svc.DeleteCharger(ctx, "cp-1") }},
		{"register-tag", func() error { _, err := c.svc.RegisterTag(ctx, charging.IDTag{ID: "U"}); return err }},
		{"delete-tag", func() error { return c.svc.DeleteTag(ctx, "T") }},
		{"boot", func() error { _, err := c.svc.Boot(ctx, charging.Boot{ChargerID: "cp-1"}); return err }},
		{"heartbeat", func() error { _, err := c.svc.Heartbeat(ctx, "cp-1"); return err }},
		{"status", func() error {
			_, err := c.svc.StatusNotification(ctx, charging.Connector{ChargerID: "cp-1", ConnectorID: 1, Status: charging.StatusAvailable})
			return err
		}},
		{"authorize", func() error { _, err := c.svc.Authorize(ctx, "cp-1", "T"); return err }},
		{"start", func() error {
			_, err := c.svc.StartTransaction(ctx, charging.StartRequest{ChargerID: "cp-1", ConnectorID: 2, IDTag: "T", Timestamp: t0})
			return err
		}},
		{"meter-values", func() error {
			return c.svc.MeterValues(ctx, charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &tx,
				Samples: []charging.MeterSample{{Timestamp: t0, Values: []charging.SampledValue{register(1, "")}}}})
		}},
		{"stop", func() error {
			_, err := c.svc.StopTransaction(ctx, charging.StopRequest{ChargerID: "cp-1", TransactionID: tx, MeterStopWh: 10, Timestamp: t0})
			return err
		}},
		{"stop-with-tag", func() error {
			_, err := c.svc.StopTransaction(ctx, charging.StopRequest{ChargerID: "cp-1", TransactionID: tx, IDTag: "T", Timestamp: t0})
			return err
		}},
		{"stop-with-data", func() error {
			_, err := c.svc.StopTransaction(ctx, charging.StopRequest{ChargerID: "cp-1", TransactionID: tx, Timestamp: t0,
				TransactionData: []charging.MeterSample{{Timestamp: t0, Values: []charging.SampledValue{register(1, "")}}}})
			return err
		}},
		{"record-event", func() error { return c.svc.RecordEvent(ctx, "cp-1", charging.EventDataTransfer, []byte(`{}`)) }},
		{"reservation", func() error {
			_, err := c.svc.ReservationAccepted(ctx, charging.Reservation{ChargerID: "cp-1", ConnectorID: 1, ReservationID: 1, IDTag: "T", ExpiresAt: t0.Add(time.Hour)})
			return err
		}},
		{"cancel-reservation", func() error { return c.svc.ReservationCancelled(ctx, "cp-1", 1) }},
		{"remote-start", func() error { _, err := c.svc.RemoteStartAccepted(ctx, "cp-1", 1, "T", time.Minute); return err }},
		{"remote-stop", func() error { return c.svc.RemoteStopAccepted(ctx, "cp-1", tx) }},
		{"expire", func() error { _, err := c.svc.ExpireSessions(ctx); return err }},
		{"record-command", func() error { return c.svc.RecordCommand(ctx, charging.CommandRecord{ID: "c", ChargerID: "cp-1"}) }},
		{"list-commands", func() error { _, err := c.svc.ListCommands(ctx, "cp-1", 10); return err }},
		{"set-tolerance", func() error { return c.svc.SetTolerance(ctx, charging.Tolerance{ChargerID: "cp-1"}) }},
		{"load-tolerance", func() error { _, err := c.svc.LoadTolerance(ctx, "cp-1"); return err }},
		{"violations", func() error { _, err := c.svc.Violations(ctx, "cp-1"); return err }},
		{"find-session", func() error { _, err := c.svc.RemoteStartSession(ctx, "cp-1", 1, "T"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || errors.Is(err, charging.ErrNotFound) {
				t.Errorf("%s on a failed store = %v; want the store's failure", tt.name, err)
			}
			if ev := c.take(); len(ev) != 0 {
				t.Errorf("events %+v; want none", ev)
			}
		})
	}
	// The switch set before the failure is still in force here: a failed
	// LoadTolerance does not reset it.
	if !c.svc.Tolerates("cp-1") {
		t.Errorf("Tolerates(cp-1) = false after a failed LoadTolerance; want the switch kept")
	}
}
