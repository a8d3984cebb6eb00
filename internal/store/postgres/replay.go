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
