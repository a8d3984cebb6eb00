package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"
)

// A message id is claimed unless an unexpired claim exists; an expired one
// is taken over. The changed-row count says which.
const (
	sqlClaimMessage = `INSERT INTO beckn_replay (bap_id, message_id, expires_at) VALUES (?, ?, ?)
	ON CONFLICT (bap_id, message_id) DO UPDATE SET expires_at = excluded.expires_at WHERE beckn_replay.expires_at <= ?`
	sqlPurgeMessages = `DELETE FROM beckn_replay WHERE expires_at <= ?`
)

// ClaimMessage remembers a Beckn (bap id, message id) until expires and
// reports whether it was new: false when an unexpired claim exists, so the
// message is a replay. Expired claims are purged on the way.
func (s *Store) ClaimMessage(ctx context.Context, bapID, messageID string, now, expires time.Time) (bool, error) {
	n, err := encTime(now)
	if err != nil {
		return false, err
	}
	e, err := encTime(expires)
	if err != nil {
		return false, err
	}
	var fresh bool
	err = s.writeOther(ctx, func(w *writer) error {
		if _, err := w.adhoc(sqlPurgeMessages, n); err != nil {
			return err
		}
		changed, err := w.adhoc(sqlClaimMessage, bapID, messageID, e, n)
		fresh = changed == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim beckn message %s/%s: %w", bapID, messageID, err)
	}
	return fresh, nil
}

// adhoc runs a statement that is too rare to keep prepared, and returns
// the number of rows it changed.
func (w *writer) adhoc(q string, args ...any) (int64, error) {
	st, err := w.dc.(driver.ConnPrepareContext).PrepareContext(w.ctx, q)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return w.exec(st, args...)
}

const sqlPruneEvents = `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE kind = ? AND at < ? LIMIT ?)`

// PruneEvents deletes up to limit events of kind recorded before before
// (retention of free-form payloads) and returns how many it deleted.
func (s *Store) PruneEvents(ctx context.Context, kind string, before time.Time, limit int) (int64, error) {
	b, err := encTime(before)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.writeOther(ctx, func(w *writer) error {
		n, err = w.adhoc(sqlPruneEvents, kind, b, limit)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune %s events: %w", kind, err)
	}
	return n, nil
}
