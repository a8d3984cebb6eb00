package sqlite

import (
	"errors"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/eventlog"
)

// TestInsertEventsInTheChangeTransaction: events inserted by a write op
// commit with it, and an op that fails takes its events with it.
func TestInsertEventsInTheChangeTransaction(t *testing.T) {
	s := openTest(t).(*Store)
	ctx := t.Context()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ok := []charging.Event{{Kind: charging.ChargerChanged, ChargerID: "CP1", At: at}, {Kind: charging.SessionChanged, ChargerID: "CP1", SessionID: "s1", Seq: 1, At: at}}
	if err := s.write(ctx, func(w *writer) error { return insertEvents(w, ok) }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := s.write(ctx, func(w *writer) error {
		if err := insertEvents(w, []charging.Event{{Kind: charging.ChargerChanged, ChargerID: "CP2", At: at}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failing op: %v", err)
	}
	var n int
	var chargers string
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*), group_concat(charger_id) FROM event_log`).Scan(&n, &chargers); err != nil {
		t.Fatal(err)
	}
	if n != 2 || chargers != "CP1,CP1" {
		t.Fatalf("event_log has %d rows of %q; want the 2 of CP1 (the failed op's rolled back)", n, chargers)
	}
	if ok[0].ID == "" || ok[0].ID == ok[1].ID {
		t.Fatalf("ids %q %q; want distinct ids given by insertEvents", ok[0].ID, ok[1].ID)
	}
}

func TestEventPort(t *testing.T) {
	eventlog.RunPortTests(t, func(t *testing.T) eventlog.Port { return openTest(t).(*Store) })
}
