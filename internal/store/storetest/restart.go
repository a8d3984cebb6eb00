package storetest

import (
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func testRestart(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	createCharger(t, st, "cp-1")
	var s starter
	var last int64
	var first charging.StartSession
	seen := map[string]bool{}
	for round := range 3 {
		for i := range 5 {
			r := s.req("cp-1", i+1, "TAG")
			if round == 0 && i == 0 {
				first = r
			}
			sess := start(t, st, r)
			if txNum(t, sess.TransactionID) <= last || seen[sess.TransactionID] {
				t.Fatalf("round %d: got transaction id %s; want a new one above %d", round, sess.TransactionID, last)
			}
			last = txNum(t, sess.TransactionID)
			seen[sess.TransactionID] = true
		}
		st = reopen(t, st, open)
	}
	retry := first
	retry.ID = "sess-retry"
	sess, created, err := st.StartSession(ctx(t), retry)
	if err != nil {
		t.Fatalf("StartSession retry after restart: %v", err)
	}
	if created || sess.ID != first.ID {
		t.Errorf("StartSession retry after restart: got session %s created %v; want %s created false", sess.ID, created, first.ID)
	}
}

// snapshot is everything a store holds, as read through the contract.
type snapshot struct {
	Chargers []charging.Charger
	Tags     []charging.IDTag
	Sessions []charging.Session
	Samples  map[string][]charging.MeterSample
	Events   map[string][]charging.ChargerEvent
}

func takeSnapshot(t *testing.T, st charging.Store) snapshot {
	t.Helper()
	var snap snapshot
	var err error
	if snap.Chargers, err = st.ListChargers(ctx(t)); err != nil {
		t.Fatalf("ListChargers: %v", err)
	}
	if snap.Tags, err = st.ListIDTags(ctx(t)); err != nil {
		t.Fatalf("ListIDTags: %v", err)
	}
	snap.Sessions = allSessions(t, st, charging.SessionFilter{Limit: 7})
	snap.Samples = map[string][]charging.MeterSample{}
	for _, s := range snap.Sessions {
		if snap.Samples[s.ID], err = st.SessionSamples(ctx(t), s.ID); err != nil {
			t.Fatalf("SessionSamples: %v", err)
		}
	}
	snap.Events = map[string][]charging.ChargerEvent{}
	for _, c := range snap.Chargers {
		if snap.Events[c.ID], err = st.ListEvents(ctx(t), c.ID, 100); err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
	}
	return snap
}

func testDurability(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	c := createCharger(t, st, "cp-1")
	createCharger(t, st, "cp-2")
	if err := st.RecordBoot(ctx(t), charging.Boot{ChargerID: "cp-1", Vendor: "Acme", Model: "X", Status: charging.BootAccepted, At: at(time.Minute)}); err != nil {
		t.Fatalf("RecordBoot: %v", err)
	}
	if err := st.TouchCharger(ctx(t), "cp-1", at(2*time.Minute)); err != nil {
		t.Fatalf("TouchCharger: %v", err)
	}
	conn := charging.Connector{ChargerID: "cp-1", ConnectorID: 1, Availability: charging.Operative, State: charging.StateCharging, Status: charging.StatusCharging, StatusAt: at(time.Minute), UpdatedAt: at(time.Minute)}
	if _, _, err := st.SetConnectorStatus(ctx(t), conn); err != nil {
		t.Fatalf("SetConnectorStatus: %v", err)
	}
	tag := charging.IDTag{ID: "TAG-1", Status: charging.AuthAccepted, ExpiresAt: ptr(at(time.Hour)), ParentID: "P", CreatedAt: t0}
	if err := st.PutIDTag(ctx(t), tag); err != nil {
		t.Fatalf("PutIDTag: %v", err)
	}
	var s starter
	active := start(t, st, s.req("cp-1", 1, "TAG-1"))
	stopped := start(t, st, s.req("cp-2", 1, "TAG-2"))
	appendValues(t, st, charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &active.TransactionID,
		Samples: []charging.MeterSample{sample(at(time.Hour), register(42.5), power(11), soc(80))}, ReceivedAt: at(time.Hour)})
	if _, err := st.StopSession(ctx(t), stopReq(stopped, stopped.MeterStartWh+777, "Remote")); err != nil {
		t.Fatalf("StopSession: %v", err)
	}
	if err := st.RecordEvent(ctx(t), charging.ChargerEvent{ChargerID: "cp-1", Kind: charging.EventDataTransfer, Payload: []byte("{}"), At: t0}); err != nil {
		t.Fatalf("RecordEvent: %v", err)
	}

	before := takeSnapshot(t, st)
	// The snapshot must hold what was written, or comparing it to itself
	// after a restart proves nothing.
	c.Vendor, c.Model, c.BootStatus = "Acme", "X", charging.BootAccepted
	c.LastBootAt, c.LastSeenAt = ptr(at(time.Minute)), ptr(at(2*time.Minute))
	c.Connectors = evses(conn)
	if len(before.Chargers) != 2 || len(before.Sessions) != 2 || len(before.Samples[active.ID]) != 1 || len(before.Events["cp-1"]) != 1 {
		t.Fatalf("snapshot before restart: got %d chargers, %d sessions, %d samples, %d events; want 2, 2, 1, 1",
			len(before.Chargers), len(before.Sessions), len(before.Samples[active.ID]), len(before.Events["cp-1"]))
	}
	if d := diff(c, before.Chargers[0]); d != "" {
		t.Errorf("charger before restart (-want +got):\n%s", d)
	}
	if got := before.Sessions[1]; got.ID != active.ID || got.LastRegisterWh != 42500 || got.MaxPowerKW != 11 {
		t.Errorf("session before restart: got %s register %v max power %v; want %s 42500 11", got.ID, got.LastRegisterWh, got.MaxPowerKW, active.ID)
	}

	st = reopen(t, st, open)
	after := takeSnapshot(t, st)
	if d := diff(before, after); d != "" {
		t.Errorf("store after restart differs (-before +after):\n%s", d)
	}
	got, err := st.ActiveSessionForTag(ctx(t), "TAG-1")
	if err != nil || got.ID != active.ID {
		t.Errorf("ActiveSessionForTag after restart: got %s, %v; want %s", got.ID, err, active.ID)
	}
}
