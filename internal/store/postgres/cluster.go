package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/keylock"
)

var (
	_ charging.Locker    = (*Store)(nil)
	_ charging.Sequencer = (*Store)(nil)
	_ charging.Leases    = (*Store)(nil)
	_ charging.Elector   = (*Store)(nil)
)

// lockConns bounds the connections that hold key locks (Lock). They come
// from a pool of their own: a holder works through the main pool while
// it holds one, so lock holders can never take every connection their
// own work waits for.
const lockConns = 8

// cluster is what several processes on one database need to do work
// once: key locks (transaction-scoped advisory locks on a pool of their
// own), leadership (session-level advisory locks on one dedicated
// connection), and through the main pool a sequence and leases.
type cluster struct {
	ns    string // the schema, which scopes the lock keys
	cc    *pgx.ConnConfig
	locks *pgxpool.Pool
	// local makes the callers of one process take turns before they
	// take a connection to wait on the database.
	local keylock.Map

	// mu guards the fields below.
	mu     sync.Mutex
	leader *pgx.Conn       // nil until the first Lead, or after it dropped
	held   map[string]bool // jobs whose lock leader holds
	closed bool
}

func (c *cluster) init(ctx context.Context, pc *pgxpool.Config, ns string) error {
	c.ns = ns
	lc := pc.Copy()
	lc.MaxConns, lc.MinConns = lockConns, 0
	lc.ConnConfig.Tracer = nil // lock waits are not commits (WithCommitObserver)
	pool, err := pgxpool.NewWithConfig(ctx, lc)
	if err != nil {
		return err
	}
	c.locks = pool
	c.cc = lc.ConnConfig.Copy()
	return nil
}

func (c *cluster) close() {
	c.mu.Lock()
	c.closed = true
	c.dropLeader()
	c.mu.Unlock()
	if c.locks != nil {
		c.locks.Close()
	}
}

// key is the advisory lock key of name in this store's schema; kind keeps
// the key spaces of locks and leadership apart.
func (c *cluster) key(kind, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("chargebridge " + kind + "\x00"))
	h.Write([]byte(c.ns))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// Lock holds key for the caller across every process on the database: a
// transaction-scoped advisory lock (pg_advisory_xact_lock), so it is
// freed when unlock ends the transaction, and by the server at once when
// the process dies and its connection drops. Waiting is bounded by ctx
// only, not by the statement timeout.
func (s *Store) Lock(ctx context.Context, key string) (unlock func(), err error) {
	c := &s.cluster
	release, err := c.local.Lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	tx, err := c.locks.Begin(ctx)
	if err != nil {
		release()
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('statement_timeout', '0', true), pg_advisory_xact_lock($1)`, c.key("lock", key)); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		release()
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			// A failed rollback closes the connection, which frees the lock
			// as well.
			_ = tx.Rollback(rctx)
			release()
		})
	}, nil
}

// NextSeq draws from the work_seq sequence, which every process on the
// database shares; numbers are never drawn twice (a rolled-back draw is
// lost, not reused).
func (s *Store) NextSeq(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT nextval('work_seq')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("next sequence number: %w", err)
	}
	return n, nil
}

// A lease is taken when it is free, expired or already ours; the
// affected-row count says whether it was.
const sqlAcquireLease = `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
	ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
	WHERE leases.holder = excluded.holder OR leases.expires_at <= clock_timestamp()`

// AcquireLease takes or renews the lease name for holder until ttl from
// now on the database's clock (so the nodes' clocks need not agree).
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, sqlAcquireLease, name, holder, ttl.Milliseconds())
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseLease gives the lease name up if holder has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

var errClosed = errors.New("the store is closed")

// Lead holds leadership of job with a session-level advisory lock
// (pg_try_advisory_lock) on a connection of its own: the lock is held as
// long as that connection lives, and the server frees it the moment the
// connection drops (the process died or lost the database), so another
// process's next Lead takes over at once. A leader checks its connection
// each time it asks; any error drops it (and with it every job it led).
func (s *Store) Lead(ctx context.Context, job string) (bool, error) {
	c := &s.cluster
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false, fmt.Errorf("lead %s: %w", job, errClosed)
	}
	if c.leader != nil && c.leader.IsClosed() {
		c.dropLeader()
	}
	if c.leader == nil {
		conn, err := pgx.ConnectConfig(ctx, c.cc)
		if err != nil {
			return false, fmt.Errorf("lead %s: %w", job, err)
		}
		c.leader, c.held = conn, map[string]bool{}
	}
	if c.held[job] {
		if err := c.leader.Ping(ctx); err != nil {
			c.dropLeader()
			return false, fmt.Errorf("lead %s: %w", job, err)
		}
		return true, nil
	}
	var ok bool
	if err := c.leader.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, c.key("leader", job)).Scan(&ok); err != nil {
		c.dropLeader()
		return false, fmt.Errorf("lead %s: %w", job, err)
	}
	if ok {
		c.held[job] = true
	}
	return ok, nil
}

// dropLeader closes the leadership connection, giving up every job it
// led. c.mu is held.
func (c *cluster) dropLeader() {
	if c.leader == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.leader.Close(ctx)
	c.leader, c.held = nil, nil
}

// consumerLeadCheck is how often a durable consumer checks that its
// process still leads it, and a waiting one whether it may take over.
const consumerLeadCheck = time.Second

// consumeLeading runs the durable consumer name on the one process that
// leads the job "event consumer NAME" (Lead): every process on the
// database runs the same consumers (the OCPI pushes, the pricer's
// finalization, the Beckn callbacks), and without this each would handle
// every event. The others wait and take over within consumerLeadCheck of
// the leader's connection dropping, from the position it last saved, so
// an event it was handling is delivered again (at least once, as after a
// restart). The leader checks each consumerLeadCheck that it still
// leads; a leader whose connection dropped while it lives stops its
// consumer at that check, so for up to that long two may handle events.
// In one process a consumer name may run several times, as before.
func (s *Store) consumeLeading(ctx context.Context, name string, h func(context.Context, charging.Event) error) error {
	job := "event consumer " + name
	failing := false
	for {
		lead, err := s.Lead(ctx, job)
		if err != nil && !failing && ctx.Err() == nil {
			s.cfg.log.Warn("event consumer: cannot tell whether this process leads it; waiting", "consumer", name, "err", err)
		}
		failing = err != nil
		if lead {
			lctx, cancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Go(func() {
				t := time.NewTicker(consumerLeadCheck)
				defer t.Stop()
				for {
					select {
					case <-lctx.Done():
						return
					case <-t.C:
					}
					if still, _ := s.Lead(lctx, job); !still {
						if lctx.Err() == nil {
							s.cfg.log.Warn("event consumer: this process no longer leads it; stopping", "consumer", name)
						}
						cancel()
						return
					}
				}
			})
			err := s.consumeLog(lctx, name, h)
			cancel()
			wg.Wait()
			if ctx.Err() != nil {
				return err
			}
			if !errors.Is(err, context.Canceled) {
				return err
			}
			continue // leadership lost: wait to lead again
		}
		t := time.NewTimer(consumerLeadCheck)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
