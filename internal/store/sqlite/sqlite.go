package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ charging.Store = (*Store)(nil)

// ErrClosed is returned by writes to a closed Store.
var ErrClosed = errors.New("sqlite store is closed")

// Store is a charging.Store in one SQLite database file. It is safe for
// concurrent use.
type Store struct {
	cfg config

	wdb *sql.DB
	w   *writer
	// ops hands write operations to the writer goroutine. It is unbuffered:
	// an operation is queued once the writer has taken it, so none can be
	// stranded in a buffer at Close.
	ops     chan *writeOp
	closing chan struct{} // closed by Close: the writer drains ops and exits
	stopped chan struct{} // closed by the writer when it has exited

	rdb *sql.DB
	r   *reader

	closeOnce sync.Once
	closeErr  error

	stats struct {
		ops, failed, commits, failedCommits atomic.Uint64
		maxBatch                            atomic.Int64
	}
}

// Option configures Open.
type Option func(*config)

type config struct {
	log         *slog.Logger
	synchronous string
	maxBatch    int
	maxBatchDur time.Duration
	readConns   int
	busyTimeout time.Duration
}

// WithLogger sets the logger for migrations and write failures; the default
// discards.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithSynchronousNormal runs with synchronous=NORMAL instead of FULL: commits
// are not fsynced one by one, so they survive a crash of the process but the
// last ones may be lost on power loss.
func WithSynchronousNormal() Option { return func(c *config) { c.synchronous = "NORMAL" } }

// WithMaxBatch caps how many write operations share one transaction (256 by
// default) and how long the writer keeps adding operations to it (5ms).
func WithMaxBatch(ops int, d time.Duration) Option {
	return func(c *config) { c.maxBatch, c.maxBatchDur = ops, d }
}

// WithReadConns sets the number of read connections (default: 2 per CPU,
// at least 4).
func WithReadConns(n int) Option { return func(c *config) { c.readConns = n } }

// Open opens (creating if needed) the database file at path, applies any
// pending migrations and starts the writer. Close stops it.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{
		log:         slog.New(slog.DiscardHandler),
		synchronous: "FULL",
		maxBatch:    256,
		maxBatchDur: 5 * time.Millisecond,
		readConns:   max(4, 2*runtime.NumCPU()),
		busyTimeout: 10 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxBatch < 1 || cfg.readConns < 1 {
		return nil, fmt.Errorf("open sqlite store: max batch and read connections must be at least 1")
	}
	switch {
	case path == "" || path == ":memory:" || strings.HasPrefix(path, "file:"):
		return nil, fmt.Errorf("open sqlite store: %q is not a file path; give the path of the database file", path)
	case strings.ContainsAny(path, "?#"):
		return nil, fmt.Errorf("open sqlite store %s: the path may not contain ? or #; rename the file or its directory", path)
	}
	pragmas := "?_pragma=busy_timeout(" + fmt.Sprint(cfg.busyTimeout.Milliseconds()) + ")&_pragma=foreign_keys(1)"

	s := &Store{
		cfg:     cfg,
		ops:     make(chan *writeOp),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	var err error
	// The write connection is opened first: it puts the file in WAL mode.
	s.wdb, err = sql.Open("sqlite", path+pragmas+"&_pragma=journal_mode(WAL)&_pragma=synchronous("+cfg.synchronous+")")
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetConnMaxIdleTime(0)
	s.wdb.SetConnMaxLifetime(0)
	fail := func(err error) (*Store, error) {
		if s.w != nil {
			s.w.close()
		}
		if s.r != nil {
			s.r.close()
		}
		if s.rdb != nil {
			s.rdb.Close()
		}
		s.wdb.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return fail(err)
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		conn.Close()
		return fail(err)
	}
	if !strings.EqualFold(mode, "wal") {
		conn.Close()
		return fail(fmt.Errorf("journal mode is %s, not WAL; is the file on a file system without shared memory support?", mode))
	}
	if err := migrateConn(ctx, conn, cfg.log); err != nil {
		conn.Close()
		return fail(err)
	}
	if s.w, err = newWriter(ctx, conn); err != nil {
		conn.Close()
		return fail(err)
	}

	s.rdb, err = sql.Open("sqlite", path+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		return fail(err)
	}
	s.rdb.SetMaxOpenConns(cfg.readConns)
	s.rdb.SetMaxIdleConns(cfg.readConns)
	s.rdb.SetConnMaxIdleTime(0)
	s.rdb.SetConnMaxLifetime(0)
	if s.r, err = newReader(ctx, s.rdb); err != nil {
		return fail(err)
	}

	go s.writeLoop()
	return s, nil
}

// Close stops taking writes, lets the writer finish the operations already
// queued, and closes the database. Closing again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.stopped
		s.r.close()
		s.w.close()
		s.closeErr = errors.Join(s.rdb.Close(), s.wdb.Close())
	})
	return s.closeErr
}

// Stats counts the writer's work since Open.
type Stats struct {
	// Ops is the number of write operations run, Failed how many of them
	// returned an error (ErrNotFound, ErrExists, … included).
	Ops, Failed uint64
	// Commits is the number of transactions committed; with group commit
	// it is far below Ops under concurrent load. FailedCommits counts
	// transactions whose commit (or begin) failed.
	Commits, FailedCommits uint64
	// MaxBatch is the largest number of operations in one transaction.
	MaxBatch int
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Ops:           s.stats.ops.Load(),
		Failed:        s.stats.failed.Load(),
		Commits:       s.stats.commits.Load(),
		FailedCommits: s.stats.failedCommits.Load(),
		MaxBatch:      int(s.stats.maxBatch.Load()),
	}
}

// Migrate applies the migrations the database does not have yet. Open has
// already done so; Migrate is for a command that only migrates, and is a
// no-op when the schema is current.
func (s *Store) Migrate(ctx context.Context) error {
	return s.write(ctx, func(w *writer) error { return migrateTx(w.ctx, w.conn, s.cfg.log) })
}

// writeOp is one write operation for the writer goroutine.
type writeOp struct {
	fn   func(w *writer) error
	err  error
	done chan error
}

var opPool = sync.Pool{New: func() any { return &writeOp{done: make(chan error, 1)} }}

// write runs fn in the writer's next transaction and returns once that
// transaction has committed (or failed). ctx bounds the wait to be queued;
// once queued, the operation is part of a shared transaction and the caller
// waits for its outcome.
func (s *Store) write(ctx context.Context, fn func(w *writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := opPool.Get().(*writeOp)
	op.fn = fn
	select {
	case s.ops <- op:
	case <-ctx.Done():
		op.fn = nil
		opPool.Put(op)
		return ctx.Err()
	case <-s.closing:
		op.fn = nil
		opPool.Put(op)
		return ErrClosed
	}
	err := <-op.done
	op.fn, op.err = nil, nil
	opPool.Put(op)
	return err
}

// writeLoop is the writer goroutine: Open starts it, Close stops it.
func (s *Store) writeLoop() {
	defer close(s.stopped)
	batch := make([]*writeOp, 0, s.cfg.maxBatch)
	for {
		select {
		case op := <-s.ops:
			batch = s.runBatch(batch[:0], op)
		case <-s.closing:
			// Callers that raced Close may still be handing over
			// operations; take them until none is waiting.
			for {
				select {
				case op := <-s.ops:
					batch = s.runBatch(batch[:0], op)
				default:
					return
				}
			}
		}
	}
}

// runBatch runs first and whatever other operations are waiting in one
// transaction, then answers them all.
func (s *Store) runBatch(batch []*writeOp, first *writeOp) []*writeOp {
	w := s.w
	batch = append(batch, first)
	if err := w.exec(w.begin); err != nil {
		s.stats.failedCommits.Add(1)
		s.finish(batch, fmt.Errorf("begin write transaction: %w", err))
		return batch
	}
	deadline := time.Now().Add(s.cfg.maxBatchDur)
	fatal := s.runOp(first)
	for fatal == nil && len(batch) < s.cfg.maxBatch && time.Now().Before(deadline) {
		var op *writeOp
		select {
		case op = <-s.ops:
		default:
		}
		if op == nil {
			break
		}
		batch = append(batch, op)
		fatal = s.runOp(op)
	}
	if fatal == nil {
		if err := w.exec(w.commit); err != nil {
			fatal = fmt.Errorf("commit: %w", err)
		}
	}
	if fatal != nil {
		s.stats.failedCommits.Add(1)
		// The transaction may already be gone (SQLite rolls back on some
		// errors); a failing ROLLBACK then says nothing new.
		_ = w.exec(w.rollback)
		s.cfg.log.Error("write transaction failed", "ops", len(batch), "err", fatal)
		s.finish(batch, fatal)
		return batch
	}
	s.stats.commits.Add(1)
	if n := int64(len(batch)); n > s.stats.maxBatch.Load() {
		s.stats.maxBatch.Store(n)
	}
	s.finish(batch, nil)
	return batch
}

// runOp runs one operation inside a savepoint. The operation's own error is
// kept for its caller; an error of the savepoint itself dooms the whole
// transaction and is returned.
func (s *Store) runOp(op *writeOp) (fatal error) {
	w := s.w
	if err := w.exec(w.savepoint); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	op.err = op.fn(w)
	if op.err != nil {
		if err := w.exec(w.rollbackTo); err != nil {
			return fmt.Errorf("roll back to savepoint after %v: %w", op.err, err)
		}
	}
	if err := w.exec(w.release); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// finish answers every operation of a batch: with its own error, or with
// txErr when the transaction failed.
func (s *Store) finish(batch []*writeOp, txErr error) {
	s.stats.ops.Add(uint64(len(batch)))
	var failed uint64
	for i, op := range batch {
		err := op.err
		if txErr != nil {
			err = txErr
		}
		if err != nil {
			failed++
		}
		batch[i] = nil
		op.done <- err
	}
	s.stats.failed.Add(failed)
}
