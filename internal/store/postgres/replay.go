package postgres

import (
	"context"
	"fmt"
	"time"
)

// A message id is claimed unless an unexpired claim exists; an expired one
// is taken over. The affected-row count says which.
const (
	sqlClaimMessage = `INSERT INTO beckn_replay (bap_id, message_id, expires_at) VALUES ($1, $2, $3)
	ON CONFLICT (bap_id, message_id) DO UPDATE SET expires_at = excluded.expires_at WHERE beckn_replay.expires_at <= $4`
	sqlPurgeMessages = `DELETE FROM beckn_replay WHERE expires_at <= $1`
)

// ClaimMessage remembers a Beckn (bap id, message id) until expires and
// reports whether it was new: false when an unexpired claim exists (on
// any node sharing the database), so the message is a replay. Expired
// claims are purged on the way.
func (s *Store) ClaimMessage(ctx context.Context, bapID, messageID string, now, expires time.Time) (bool, error) {
	n, err := encTime(now)
	if err != nil {
		return false, err
	}
	e, err := encTime(expires)
	if err != nil {
		return false, err
	}
	if _, err := s.pool.Exec(ctx, sqlPurgeMessages, n); err != nil {
		return false, fmt.Errorf("purge beckn messages: %w", err)
	}
	tag, err := s.pool.Exec(ctx, sqlClaimMessage, bapID, messageID, e, n)
	if err != nil {
		return false, fmt.Errorf("claim beckn message %s/%s: %w", bapID, messageID, err)
	}
	return tag.RowsAffected() == 1, nil
}

const sqlPruneEvents = `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE kind = $1 AND at < $2 LIMIT $3)`

// PruneEvents deletes up to limit events of kind recorded before before
// (retention of free-form payloads) and returns how many it deleted.
func (s *Store) PruneEvents(ctx context.Context, kind string, before time.Time, limit int) (int64, error) {
	b, err := encTime(before)
	if err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, sqlPruneEvents, kind, b, limit)
	if err != nil {
		return 0, fmt.Errorf("prune %s events: %w", kind, err)
	}
	return tag.RowsAffected(), nil
}
