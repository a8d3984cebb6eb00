package postgres

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/eventlog"
)

// TestInsertEventsInTheChangeTransaction: events inserted in a transaction
// or a pipelined batch commit with it; a rolled-back one leaves none.
func TestInsertEventsInTheChangeTransaction(t *testing.T) {
	s := openTest(t).(*Store)
	ctx := t.Context()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := insertEvents(ctx, tx, []charging.Event{{Kind: charging.ChargerChanged, ChargerID: "CP1", At: at}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	tx, err = s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := insertEvents(ctx, tx, []charging.Event{{Kind: charging.ChargerChanged, ChargerID: "CP2", At: at}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	var b pgx.Batch
	evs := []charging.Event{{Kind: charging.SessionChanged, ChargerID: "CP1", SessionID: "s1", Seq: 1, At: at}, {Kind: charging.SessionChanged, ChargerID: "CP1", SessionID: "s1", Seq: 2, At: at}}
	if err := queueEvents(&b, evs); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	var chargers string
	if err := s.pool.QueryRow(ctx, `SELECT count(*), string_agg(charger_id, ',' ORDER BY pos) FROM event_log`).Scan(&n, &chargers); err != nil {
		t.Fatal(err)
	}
	if n != 3 || chargers != "CP1,CP1,CP1" {
		t.Fatalf("event_log has %d rows of %q; want the 3 of CP1 (CP2's rolled back)", n, chargers)
	}
	if evs[0].ID == "" || evs[0].ID == evs[1].ID {
		t.Fatalf("ids %q %q; want distinct ids given by queueEvents", evs[0].ID, evs[1].ID)
	}
}

func TestEventPort(t *testing.T) {
	eventlog.RunPortTests(t, func(t *testing.T) eventlog.Port { return openTest(t).(*Store) })
}

// TestEventLogFollowsCommitOrder: an event inserted first (lower pos) by a
// transaction that commits last must not be skipped by a reader that has
// already seen a later pos. The reader holds the later event back until
// the earlier transaction ends.
func TestEventLogFollowsCommitOrder(t *testing.T) {
	s := openTest(t).(*Store)
	ctx := t.Context()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := insertEvents(ctx, tx, []charging.Event{{ID: "early", Kind: charging.ChargerChanged, ChargerID: "CP1", At: at}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(ctx, charging.Event{ID: "late", Kind: charging.ChargerChanged, ChargerID: "CP1", At: at}); err != nil {
		t.Fatal(err)
	}
	rows, err := pgLog{s}.Read(ctx, eventlog.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 0 {
		t.Fatalf("read %q while an earlier transaction is open; want nothing yet", rows[0].Event.ID)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err = pgLog{s}.Read(ctx, eventlog.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Event.ID != "early" || rows[1].Event.ID != "late" {
		t.Fatalf("read %d rows; want early then late", len(rows))
	}
}
