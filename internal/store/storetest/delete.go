package storetest

import (
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// testDeleteCharger: a deleted charger and its connectors are gone, its
// sessions, samples and events stay, another charger is untouched, and the
// id can be registered again with no connectors.
func testDeleteCharger(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	createCharger(t, st, "cp-del")
	createCharger(t, st, "cp-keep")
	for _, id := range []string{"cp-del", "cp-keep"} {
		if _, _, err := st.SetConnectorStatus(ctx(t), charging.Connector{ChargerID: id, ConnectorID: 1, Status: charging.StatusAvailable, StatusAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatalf("SetConnectorStatus(%s): %v", id, err)
		}
	}
	var s starter
	sess := start(t, st, s.req("cp-del", 1, "TAG-1"))
	tx := sess.TransactionID
	appendValues(t, st, charging.MeterValues{ChargerID: "cp-del", ConnectorID: 1, TransactionID: &tx, Samples: []charging.MeterSample{sample(at(2*time.Minute), register(2))}})
	if err := st.RecordEvent(ctx(t), charging.ChargerEvent{ChargerID: "cp-del", Kind: "FirmwareStatusNotification", Payload: []byte(`{"status":"Installed"}`), At: t0}); err != nil {
		t.Fatalf("RecordEvent: %v", err)
	}

	if err := st.DeleteCharger(ctx(t), "cp-del"); err != nil {
		t.Fatalf("DeleteCharger(cp-del): %v", err)
	}
	_, err := st.GetCharger(ctx(t), "cp-del")
	wantErr(t, "GetCharger after DeleteCharger", err, charging.ErrNotFound)
	wantErr(t, "DeleteCharger again", st.DeleteCharger(ctx(t), "cp-del"), charging.ErrNotFound)
	wantErr(t, "DeleteCharger(unknown)", st.DeleteCharger(ctx(t), "cp-nobody"), charging.ErrNotFound)

	cs, err := st.ListChargers(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].ID != "cp-keep" || len(cs[0].Connectors) != 1 {
		t.Errorf("ListChargers after delete: got %+v; want only cp-keep with its connector", cs)
	}
	got := getSession(t, st, sess.ID)
	if got.ChargerID != "cp-del" || got.TransactionID != tx {
		t.Errorf("session after DeleteCharger: got %+v; want it kept", got)
	}
	samples, err := st.SessionSamples(ctx(t), sess.ID)
	if err != nil || len(samples) != 1 {
		t.Errorf("samples after DeleteCharger: got %d, %v; want 1", len(samples), err)
	}
	evs, err := st.ListEvents(ctx(t), "cp-del", 10)
	if err != nil || len(evs) != 1 {
		t.Errorf("events after DeleteCharger: got %d, %v; want 1", len(evs), err)
	}

	// Registered again, the charger starts without the old connectors.
	createCharger(t, st, "cp-del")
	c, err := st.GetCharger(ctx(t), "cp-del")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Connectors) != 0 {
		t.Errorf("re-created charger has connectors %+v; want none", c.Connectors)
	}
}

// testDeleteIDTag: a deleted tag is gone, others stay.
func testDeleteIDTag(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	for _, id := range []string{"TAG-DEL", "TAG-KEEP"} {
		if err := st.PutIDTag(ctx(t), charging.IDTag{ID: id, Status: charging.AuthAccepted, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DeleteIDTag(ctx(t), "TAG-DEL"); err != nil {
		t.Fatalf("DeleteIDTag: %v", err)
	}
	_, err := st.GetIDTag(ctx(t), "TAG-DEL")
	wantErr(t, "GetIDTag after DeleteIDTag", err, charging.ErrNotFound)
	wantErr(t, "DeleteIDTag again", st.DeleteIDTag(ctx(t), "TAG-DEL"), charging.ErrNotFound)
	tags, err := st.ListIDTags(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 1 || tags[0].ID != "TAG-KEEP" {
		t.Errorf("ListIDTags after delete: got %+v; want only TAG-KEEP", tags)
	}
}
