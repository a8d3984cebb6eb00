package postgres

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/charging"
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
