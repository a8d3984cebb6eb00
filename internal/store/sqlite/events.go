package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/eventlog"
)

const (
	sqlInsertLogEvent = `INSERT INTO event_log (id, session_id, seq, charger_id, kind, at, body) VALUES (?, ?, ?, ?, ?, ?, ?)`
	// sqlBumpEventSeq numbers a session's next event.
	sqlBumpEventSeq = `UPDATE sessions SET event_seq = event_seq + 1 WHERE seq = ?`
	sqlEventSeq     = `SELECT id, charger_id, coalesce(transaction_id, ''), event_seq FROM sessions WHERE seq = ?`
)

// eventStmts are the writer's statements on the event log.
type eventStmts struct {
	insert, savePos, prune, bumpSeq, eventSeq driver.Stmt
}

func (e *eventStmts) prepare(p func(string) driver.Stmt) {
	e.insert = p(sqlInsertLogEvent)
	e.savePos = p(sqlSavePos)
	e.prune = p(sqlPruneEventLog)
	e.bumpSeq = p(sqlBumpEventSeq)
	e.eventSeq = p(sqlEventSeq)
}

// sessionChanged appends a SessionChanged event for the session stored at
// seq, numbered next in its sequence, inside the writer's current
// transaction: the event commits with the change or not at all. The event
// names the session (and its transaction); consumers read the session as it
// is when they handle the event.
func (w *writer) sessionChanged(seq int64, at time.Time) error {
	if err := w.run(w.ev.bumpSeq, seq); err != nil {
		return fmt.Errorf("number session event: %w", err)
	}
	e := charging.Event{Kind: charging.SessionChanged, At: at}
	if err := w.queryRow(w.ev.eventSeq, seq).Scan(&e.SessionID, &e.ChargerID, &e.TransactionID, &e.Seq); err != nil {
		return fmt.Errorf("number session event: %w", err)
	}
	return insertEvents(w, []charging.Event{e})
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

var _ charging.EventPort = (*Store)(nil)

const (
	sqlReadEvents = `SELECT pos, id, session_id, seq, charger_id, kind, at, body FROM event_log WHERE pos > ? ORDER BY pos LIMIT ?`
	sqlEventsEnd  = `SELECT coalesce(max(pos), 0) FROM event_log`
	sqlPosition   = `SELECT pos FROM event_consumers WHERE name = ?`
	sqlSavePos    = `INSERT INTO event_consumers (name, pos, updated_at) VALUES (?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET pos = excluded.pos, updated_at = excluded.updated_at`
	// sqlPruneEvents deletes what every durable consumer has acknowledged
	// and is older than the cut-off.
	sqlPruneEventLog = `DELETE FROM event_log WHERE at < ?1
	AND pos <= coalesce((SELECT min(pos) FROM event_consumers WHERE updated_at >= ?2), 9223372036854775807)`
)

// Publish appends e to the event log in a transaction of its own
// (charging.EventPort); consumers are woken when it commits.
func (s *Store) Publish(ctx context.Context, e charging.Event) error {
	if err := s.writeOther(ctx, func(w *writer) error { return insertEvents(w, []charging.Event{e}) }); err != nil {
		return fmt.Errorf("publish %s event: %w", e.Kind, err)
	}
	return nil
}

// Consume reads the event log (charging.EventPort). The log's order is
// commit order: pos is drawn by the single writer inside its transaction,
// and a reader sees only committed transactions, so no event can appear
// later below a position already read.
func (s *Store) Consume(ctx context.Context, name string, h func(context.Context, charging.Event) error) error {
	l := eventlog.Log{B: sqliteLog{s}, Notify: &s.events, Log: s.cfg.log,
		Poll: 5 * time.Second, Backoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second, Batch: 256}
	return l.Consume(ctx, name, h)
}

// PruneEventLog deletes the events every durable consumer has acknowledged
// that are older than eventlog.Retention at now, and returns how many. A
// consumer whose position stood still for eventlog.Abandoned holds nothing
// back.
func (s *Store) PruneEventLog(ctx context.Context, now time.Time) (int64, error) {
	at, err := encTime(now.Add(-eventlog.Retention))
	if err != nil {
		return 0, err
	}
	alive, err := encTime(now.Add(-eventlog.Abandoned))
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.writeOther(ctx, func(w *writer) error {
		var err error
		n, err = w.exec(w.ev.prune, at, alive)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune event log: %w", err)
	}
	return n, nil
}

// sqliteLog is the store's eventlog.Backend.
type sqliteLog struct{ s *Store }

func (l sqliteLog) Read(ctx context.Context, after eventlog.Cursor, limit int) ([]eventlog.Row, error) {
	rows, err := l.s.r.readEvents.QueryContext(ctx, after.Pos, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []eventlog.Row
	for rows.Next() {
		var r eventlog.Row
		var kind string
		var at sql.NullInt64
		var body []byte
		e := &r.Event
		if err := rows.Scan(&r.Cursor.Pos, &e.ID, &e.SessionID, &e.Seq, &e.ChargerID, &kind, &at, &body); err != nil {
			return nil, err
		}
		e.Kind, e.At = charging.EventKind(kind), decTime(at)
		if err := eventlog.DecodeBody(body, e); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (l sqliteLog) End(ctx context.Context) (eventlog.Cursor, error) {
	var c eventlog.Cursor
	err := l.s.r.eventsEnd.QueryRowContext(ctx).Scan(&c.Pos)
	return c, err
}

func (l sqliteLog) Position(ctx context.Context, name string) (eventlog.Cursor, bool, error) {
	var c eventlog.Cursor
	err := l.s.r.logPosition.QueryRowContext(ctx, name).Scan(&c.Pos)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

func (l sqliteLog) SavePosition(ctx context.Context, name string, c eventlog.Cursor) error {
	now := time.Now().UnixNano()
	return l.s.writeOther(ctx, func(w *writer) error { return w.run(w.ev.savePos, name, c.Pos, now) })
}
