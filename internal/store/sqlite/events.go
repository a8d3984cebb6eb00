package sqlite

import (
	"database/sql/driver"
	"fmt"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/eventlog"
)

const sqlInsertLogEvent = `INSERT INTO event_log (id, session_id, seq, charger_id, kind, at, body) VALUES (?, ?, ?, ?, ?, ?, ?)`

// eventStmts are the writer's statements on the event log.
type eventStmts struct {
	insert driver.Stmt
}

func (e *eventStmts) prepare(p func(string) driver.Stmt) {
	e.insert = p(sqlInsertLogEvent)
}

// insertEvents appends evs to the event log inside the writer's current
// transaction (call it from a write op, next to the change the events
// describe, so both commit or neither does). An event without an ID gets
// one. Consumers are woken once the transaction has committed.
func insertEvents(w *writer, evs []charging.Event) error {
	for i := range evs {
		e := &evs[i]
		if e.ID == "" {
			e.ID = charging.NewID()
		}
		body, err := eventlog.EncodeBody(*e)
		if err != nil {
			return err
		}
		at, err := encTime(e.At)
		if err != nil {
			return fmt.Errorf("event %s: %w", e.ID, err)
		}
		if at == nil {
			at = int64(0)
		}
		if err := w.run(w.ev.insert, e.ID, e.SessionID, e.Seq, e.ChargerID, string(e.Kind), at, body); err != nil {
			return fmt.Errorf("insert %s event %s: %w", e.Kind, e.ID, err)
		}
	}
	if len(evs) > 0 {
		w.wroteEvents = true
	}
	return nil
}
