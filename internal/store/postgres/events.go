package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/eventlog"
)

// sqlInsertEvents appends events, one row per element of the arrays. The
// row's xid column defaults to the inserting transaction's id.
const sqlInsertEvents = `INSERT INTO event_log (id, session_id, seq, charger_id, kind, at, body)
	SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::jsonb[])`

// sqlSessionEventsFrom, followed by the name of a CTE, is a statement (or
// the last CTE of one) that appends a SessionChanged event for each row of
// that CTE, which returns a changed session's id, charger_id,
// transaction_id, (bumped) event_seq and last_updated (the event's time).
// The events commit with the change or not at all. They name the session;
// consumers read it as it is when they handle the event.
const sqlSessionEventsFrom = `INSERT INTO event_log (id, session_id, seq, charger_id, kind, at, body)
	SELECT gen_random_uuid()::text, id, event_seq, charger_id, '` + string(charging.SessionChanged) + `', coalesce(last_updated, 0),
		CASE WHEN transaction_id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('transaction_id', transaction_id) END
	FROM `

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

var _ charging.EventPort = (*Store)(nil)

// Reading in commit order. pos is drawn from a sequence when a row is
// inserted, so a transaction that inserts later may commit earlier: reading
// "pos > last" would skip a row that commits after a higher pos was read.
// Each row records its transaction's id (xid), and readers take only rows
// whose xid is below the xmin of their snapshot: every transaction below
// xmin has ended, and every transaction still to write gets a higher xid,
// so the set of such rows only grows past the reader's cursor. Consumers
// read in (xid, pos) order and keep (xid, pos) as their position. The price
// is that a long-running transaction anywhere in the database holds back
// delivery until it ends (statement timeouts bound it); consumers re-read
// at least every second for that case, and for commits by other processes.
const (
	sqlSafeXmin   = `pg_snapshot_xmin(pg_current_snapshot())`
	sqlReadEvents = `SELECT xid::text::bigint, pos, id, session_id, seq, charger_id, kind, at, body::text FROM event_log
	WHERE (xid, pos) > ($1::text::xid8, $2::bigint) AND xid < ` + sqlSafeXmin + `
	ORDER BY xid, pos LIMIT $3`
	sqlEventsEnd = `SELECT xid::text::bigint, pos FROM event_log WHERE xid < ` + sqlSafeXmin + `
	ORDER BY xid DESC, pos DESC LIMIT 1`
	sqlPosition = `SELECT xid::text::bigint, pos FROM event_consumers WHERE name = $1`
	sqlSavePos  = `INSERT INTO event_consumers (name, xid, pos, updated_at) VALUES ($1, $2::text::xid8, $3, $4)
	ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, pos = excluded.pos, updated_at = excluded.updated_at`
	// sqlPruneEventLog deletes what every durable consumer has
	// acknowledged and is older than the cut-off.
	sqlPruneEventLog = `DELETE FROM event_log WHERE at < $1
	AND (xid, pos) <= ALL (SELECT xid, pos FROM event_consumers WHERE updated_at >= $2)`
)

// Publish appends e to the event log in a transaction of its own
// (charging.EventPort); this process's consumers are woken when it commits.
func (s *Store) Publish(ctx context.Context, e charging.Event) error {
	args, err := eventArgs([]charging.Event{e})
	if err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, sqlInsertEvents, args...); err != nil {
		return fmt.Errorf("publish %s event: %w", e.Kind, err)
	}
	s.eventsCommitted()
	return nil
}

// Consume reads the event log in commit order (charging.EventPort; see
// sqlReadEvents). A durable consumer runs on one process of those sharing
// the database at a time (consumeLeading, cluster.go).
func (s *Store) Consume(ctx context.Context, name string, h func(context.Context, charging.Event) error) error {
	if name == "" {
		return s.consumeLog(ctx, name, h)
	}
	return s.consumeLeading(ctx, name, h)
}

// consumeLog reads the event log as consumer name.
func (s *Store) consumeLog(ctx context.Context, name string, h func(context.Context, charging.Event) error) error {
	l := eventlog.Log{B: pgLog{s}, Notify: &s.events, Log: s.cfg.log,
		Poll: time.Second, Backoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second, Batch: 256}
	return l.Consume(ctx, name, h)
}

// PruneEventLog deletes the events every durable consumer (whose position
// moved within eventlog.Abandoned) has acknowledged
// that are older than eventlog.Retention at now, and returns how many.
func (s *Store) PruneEventLog(ctx context.Context, now time.Time) (int64, error) {
	at, err := encTime(now.Add(-eventlog.Retention))
	if err != nil {
		return 0, err
	}
	alive, err := encTime(now.Add(-eventlog.Abandoned))
	if err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, sqlPruneEventLog, at, alive)
	if err != nil {
		return 0, fmt.Errorf("prune event log: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ForgetConsumer deletes the saved position of the durable consumer name:
// a consumer that moved to the cluster's JetStream stream no longer holds
// back PruneEventLog.
func (s *Store) ForgetConsumer(ctx context.Context, name string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM event_consumers WHERE name = $1`, name); err != nil {
		return fmt.Errorf("forget event consumer %s: %w", name, err)
	}
	return nil
}

// pgLog is the store's eventlog.Backend.
type pgLog struct{ s *Store }

func (l pgLog) Read(ctx context.Context, after eventlog.Cursor, limit int) ([]eventlog.Row, error) {
	rows, err := l.s.pool.Query(ctx, sqlReadEvents, strconv.FormatInt(after.Xid, 10), after.Pos, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []eventlog.Row
	for rows.Next() {
		var r eventlog.Row
		var kind, body string
		var at int64
		e := &r.Event
		if err := rows.Scan(&r.Cursor.Xid, &r.Cursor.Pos, &e.ID, &e.SessionID, &e.Seq, &e.ChargerID, &kind, &at, &body); err != nil {
			return nil, err
		}
		e.Kind, e.At = charging.EventKind(kind), decTime(&at)
		if err := eventlog.DecodeBody([]byte(body), e); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (l pgLog) End(ctx context.Context) (eventlog.Cursor, error) {
	var c eventlog.Cursor
	err := l.s.pool.QueryRow(ctx, sqlEventsEnd).Scan(&c.Xid, &c.Pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventlog.Cursor{}, nil
	}
	return c, err
}

func (l pgLog) Position(ctx context.Context, name string) (eventlog.Cursor, bool, error) {
	var c eventlog.Cursor
	err := l.s.pool.QueryRow(ctx, sqlPosition, name).Scan(&c.Xid, &c.Pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

func (l pgLog) SavePosition(ctx context.Context, name string, c eventlog.Cursor) error {
	_, err := l.s.pool.Exec(ctx, sqlSavePos, name, strconv.FormatInt(c.Xid, 10), c.Pos, time.Now().UnixNano())
	return err
}
