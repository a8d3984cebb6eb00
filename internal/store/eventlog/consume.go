package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// Cursor is a place in a log: after the event at it. The SQLite log uses
// Pos only; the PostgreSQL log orders by (Xid, Pos), commit order.
type Cursor struct{ Xid, Pos int64 }

// Less orders cursors.
func (c Cursor) Less(d Cursor) bool { return c.Xid < d.Xid || c.Xid == d.Xid && c.Pos < d.Pos }

// Row is an event read from the log with its cursor.
type Row struct {
	Event  charging.Event
	Cursor Cursor
}

// Backend is a store's side of a log.
type Backend interface {
	// Read returns up to limit events after c that are safe to deliver
	// (committed, and no event can commit before them any more), in order.
	Read(ctx context.Context, after Cursor, limit int) ([]Row, error)
	// End returns the cursor after the last event safe to deliver.
	End(ctx context.Context) (Cursor, error)
	// Position returns a durable consumer's saved cursor; ok false when it
	// has none.
	Position(ctx context.Context, name string) (c Cursor, ok bool, err error)
	// SavePosition records a durable consumer's cursor.
	SavePosition(ctx context.Context, name string, c Cursor) error
}

// Log is the consuming side of a store's event log: the loop shared by the
// stores' EventPort implementations.
type Log struct {
	B      Backend
	Notify *Notifier
	Log    *slog.Logger
	// Poll is how long a consumer with nothing to read waits for a
	// notification before reading again anyway (events committed by
	// another process, or held back by a running transaction).
	Poll time.Duration
	// Backoff is the first wait before redelivering an event whose
	// handler failed; it doubles up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Batch is how many events one read fetches.
	Batch int
}

// Consume implements charging.EventPort.Consume over l.B.
func (l *Log) Consume(ctx context.Context, name string, h func(context.Context, charging.Event) error) error {
	batch := max(l.Batch, 1)
	var cur Cursor
	if name == "" {
		c, err := l.B.End(ctx)
		if err != nil {
			return fmt.Errorf("consume events: %w", err)
		}
		cur = c
	} else {
		c, ok, err := l.B.Position(ctx, name)
		if err != nil {
			return fmt.Errorf("consume events as %s: %w", name, err)
		}
		if !ok {
			// Register at once, so retention keeps what this consumer
			// has not read yet.
			if err := l.B.SavePosition(ctx, name, c); err != nil {
				return fmt.Errorf("consume events as %s: %w", name, err)
			}
		}
		cur = c
	}
	saved := cur
	save := func() error {
		if name == "" || saved == cur {
			return nil
		}
		if err := l.B.SavePosition(context.WithoutCancel(ctx), name, cur); err != nil {
			return fmt.Errorf("save position of %s: %w", name, err)
		}
		saved = cur
		return nil
	}
	poll := time.NewTimer(l.Poll)
	defer poll.Stop()
	for {
		wake := l.Notify.Wait()
		rows, err := l.B.Read(ctx, cur, batch)
		if err != nil {
			if ctx.Err() != nil {
				return errors.Join(ctx.Err(), save())
			}
			l.Log.Error("reading the event log failed; retrying", "consumer", name, "err", err)
			if !charging.Sleep(ctx, l.MaxBackoff) {
				return errors.Join(ctx.Err(), save())
			}
			continue
		}
		for _, r := range rows {
			if err := l.deliver(ctx, name, r, h); err != nil {
				return errors.Join(err, save())
			}
			cur = r.Cursor
		}
		if err := save(); err != nil {
			l.Log.Error("saving a consumer's position failed; it will be retried", "consumer", name, "err", err)
		}
		if len(rows) == batch {
			continue
		}
		poll.Reset(l.Poll)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-poll.C:
		}
	}
}

// deliver hands r to h until h accepts it, waiting longer after each
// failure. It returns only ctx's error.
func (l *Log) deliver(ctx context.Context, name string, r Row, h func(context.Context, charging.Event) error) error {
	wait := l.Backoff
	for attempt := 1; ; attempt++ {
		e := r.Event
		e.Pos = r.Cursor.Pos
		err := h(ctx, e)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.Log.Warn("event handler failed; redelivering after a backoff", "consumer", name, "event", e.ID,
			"kind", e.Kind, "attempt", attempt, "retry_in", wait, "err", err)
		if !charging.Sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(2*wait, l.MaxBackoff)
	}
}

// Retention is how long acknowledged events are kept.
const Retention = 24 * time.Hour

// Abandoned is how long a durable consumer's saved position may stand
// still before it no longer holds events back from pruning: a consumer
// that runs saves its position as it reads, so one that has not moved for
// a week while events came is not running (its component was turned off,
// or it is stuck on an event, which it logs on every attempt). Without
// this, such a consumer would keep the log growing for ever.
const Abandoned = 7 * 24 * time.Hour
