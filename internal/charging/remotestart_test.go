package charging_test

import (
	"context"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// A charger sends its StartTransaction right after its answer to a remote
// start, and the start can be stored before the answer is handled: the
// remote start is then that session, and no pending session is left to
// end invalid at its timeout.
func TestRemoteStartAnsweredAfterTheStart(t *testing.T) {
	c := newCore(t, charging.Config{AcceptUnknownTags: true})
	c.charger(t, "cp-1")
	ctx := context.Background()
	started := c.start(t, charging.StartRequest{ChargerID: "cp-1", ConnectorID: 1, IDTag: "APP-1"})
	got, err := c.svc.RemoteStartAccepted(ctx, "cp-1", 1, "APP-1", time.Minute)
	if err != nil || got.ID != started.Session.ID {
		t.Fatalf("RemoteStartAccepted after the start = %s, %v; want the started session %s", got.ID, err, started.Session.ID)
	}
	pending, _, err := c.store.ListSessions(ctx, charging.SessionFilter{ChargerID: "cp-1", Status: charging.SessionPending})
	if err != nil || len(pending) != 0 {
		t.Errorf("pending sessions %+v, %v; want none", pending, err)
	}
	if s, err := c.svc.RemoteStartSession(ctx, "cp-1", 1, "APP-1"); err != nil || s.ID != started.Session.ID {
		t.Errorf("RemoteStartSession = %s, %v; want %s", s.ID, err, started.Session.ID)
	}
	// Before the start, as usual: a pending session.
	p, err := c.svc.RemoteStartAccepted(ctx, "cp-1", 2, "APP-2", time.Minute)
	if err != nil || p.Status != charging.SessionPending {
		t.Errorf("RemoteStartAccepted before a start = %+v, %v; want a pending session", p, err)
	}
}
