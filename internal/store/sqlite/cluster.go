package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// A SQLite database belongs to one process, so the ports that let several
// nodes do work once hold within the process here: key locks are
// in-process mutexes, and this process always leads. The sequence is
// stored, so it survives a restart like PostgreSQL's; leases are stored
// too, and cleared when the file is opened (their holder is gone).
var (
	_ charging.Locker    = (*Store)(nil)
	_ charging.Sequencer = (*Store)(nil)
	_ charging.Leases    = (*Store)(nil)
	_ charging.Elector   = (*Store)(nil)
)

// Lock holds key within this process.
func (s *Store) Lock(ctx context.Context, key string) (unlock func(), err error) {
	unlock, err = s.locks.Lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	return unlock, nil
}

// NextSeq draws from the work_seq AUTOINCREMENT table, which never hands
// a number out twice, even after the row is gone.
func (s *Store) NextSeq(ctx context.Context) (int64, error) {
	var n int64
	err := s.writeOther(ctx, func(w *writer) error {
		ns, err := w.queryInts(`INSERT INTO work_seq DEFAULT VALUES RETURNING n`)
		if err != nil {
			return err
		}
		if len(ns) != 1 {
			return fmt.Errorf("got %d numbers; want 1", len(ns))
		}
		n = ns[0]
		return w.execScript(`DELETE FROM work_seq`)
	})
	if err != nil {
		return 0, fmt.Errorf("next sequence number: %w", err)
	}
	return n, nil
}

const sqlAcquireLease = `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
	WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`

// AcquireLease takes or renews the lease name for holder until ttl from
// now (this process's clock).
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := time.Now()
	var ok bool
	err := s.writeOther(ctx, func(w *writer) error {
		n, err := w.adhoc(sqlAcquireLease, name, holder, now.Add(ttl).UnixMilli(), now.UnixMilli())
		ok = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	return ok, nil
}

// ReleaseLease gives the lease name up if holder has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	err := s.writeOther(ctx, func(w *writer) error {
		_, err := w.adhoc(`DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// Lead reports true: the one process on a SQLite database leads every
// job.
func (s *Store) Lead(ctx context.Context, job string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return true, nil
}
