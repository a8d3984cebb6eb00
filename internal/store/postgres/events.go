package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/eventlog"
)

// sqlInsertEvents appends events, one row per element of the arrays. The
// row's xid column defaults to the inserting transaction's id.
const sqlInsertEvents = `INSERT INTO event_log (id, session_id, seq, charger_id, kind, at, body)
	SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::jsonb[])`

// eventArgs returns the arguments of sqlInsertEvents for evs, giving an id
// to an event without one.
func eventArgs(evs []charging.Event) ([]any, error) {
	n := len(evs)
	ids, sids, chargers, kinds, bodies := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs, ats := make([]int64, n), make([]int64, n)
	for i := range evs {
		e := &evs[i]
		if e.ID == "" {
			e.ID = charging.NewID()
		}
		body, err := eventlog.EncodeBody(*e)
		if err != nil {
			return nil, err
		}
		at, err := encTime(e.At)
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", e.ID, err)
		}
		if at != nil {
			ats[i] = *at
		}
		ids[i], sids[i], seqs[i], chargers[i], kinds[i], bodies[i] = e.ID, e.SessionID, e.Seq, e.ChargerID, string(e.Kind), string(body)
	}
	return []any{ids, sids, seqs, chargers, kinds, ats, bodies}, nil
}

// insertEvents appends evs to the event log inside tx, the transaction of
// the change they describe, so both commit or neither does. An event
// without an ID gets one. After tx commits, call s.eventsCommitted() so
// the log's consumers in this process read them at once.
func insertEvents(ctx context.Context, tx pgx.Tx, evs []charging.Event) error {
	if len(evs) == 0 {
		return nil
	}
	args, err := eventArgs(evs)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, sqlInsertEvents, args...); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	return nil
}

// queueEvents is insertEvents for a pipelined batch that the server runs as
// one implicit transaction: it queues the insert into b. After the batch
// has run, call s.eventsCommitted().
func queueEvents(b *pgx.Batch, evs []charging.Event) error {
	if len(evs) == 0 {
		return nil
	}
	args, err := eventArgs(evs)
	if err != nil {
		return err
	}
	b.Queue(sqlInsertEvents, args...)
	return nil
}

// eventsCommitted wakes this process's consumers of the event log after a
// commit that wrote events.
func (s *Store) eventsCommitted() { s.events.Notify() }
