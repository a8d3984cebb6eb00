package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/keylock"
	"github.com/chargebridge/chargebridge/internal/store/eventlog"
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
	w   *writer // owned by the writer goroutine
	// queue holds the write operations handed to the writer goroutine
	// and not taken yet; wake tells the writer there are some. closed
	// (set by Close, under qmu) refuses new ones, so none is stranded.
	qmu     sync.Mutex
	queue   []*writeOp
	closed  bool
	taken   []*writeOp // the queue as the writer took it; it is at next
	next    int
	wake    chan struct{}
	closing chan struct{} // closed by Close: the writer drains the queue and exits
	kick    chan struct{} // the writer's note to the checkpointer that it committed
	// answers carries each batch's outcomes for the callers that did not
	// wait (handThen) to the answering goroutine (runAnswers): their
	// callbacks (a charger's answer written to its socket) run beside the
	// writer's next batch, at one wake-up per batch. The writer closes it
	// when it ends.
	answers chan *[]thenCall
	// ckpt is held by whoever checkpoints: the checkpointer, or the
	// writer finishing a checkpoint so that the WAL starts over (see
	// restartWAL). walFrames is the WAL's length in frames at the last
	// checkpoint (stored under ckpt).
	ckpt      sync.Mutex
	walFrames atomic.Int64
	// lastBatch (the operations of the last batch committed) and lingerT
	// are the writer goroutine's (see defaultCommitLinger).
	lastBatch int
	lingerT   *time.Timer
	wg        sync.WaitGroup

	rdb *sql.DB
	r   *reader
	// journal holds the samples' committed journal rows for reads
	// (journal.go).
	journal journalCache
	// overlay holds the meters committed in the journal and maybe not in
	// session_meter, for reads (meterstate.go).
	overlay meterOverlay

	// events wakes the event log's consumers after a commit with events.
	events eventlog.Notifier

	// locks are the key locks of Lock (cluster.go).
	locks keylock.Map

	closeOnce sync.Once
	closeErr  error

	stats struct {
		ops, failed, commits, failedCommits, checkpoints atomic.Uint64
		moved, moveSteps, failedMoves                    atomic.Uint64
		maxBatch                                         atomic.Int64
	}
}

// Option configures Open.
type Option func(*config)

type config struct {
	log                *slog.Logger
	synchronous        string
	maxBatch           int
	maxBatchDur        time.Duration
	readConns          int
	busyTimeout        time.Duration
	checkpointInterval time.Duration
	walRestartFrames   int64
	commitLinger       time.Duration
	// commitObserver hears how long each write transaction took.
	commitObserver func(time.Duration)
	// roundSamples, minStep and maxStep size the rounds of the
	// samples' journal (journal.go).
	roundSamples     int
	minStep, maxStep int
}

// WithLogger sets the logger for migrations and failures; the default
// discards.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithCommitObserver has f told how long each write transaction took, from
// BEGIN to a durable COMMIT (for /metrics). f runs on the writer
// goroutine and must be quick.
func WithCommitObserver(f func(time.Duration)) Option {
	return func(c *config) { c.commitObserver = f }
}

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
// pending migrations and starts the writer and the checkpointer. Close
// stops them.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{
		log:                slog.New(slog.DiscardHandler),
		synchronous:        "FULL",
		maxBatch:           256,
		maxBatchDur:        5 * time.Millisecond,
		readConns:          max(4, 2*runtime.NumCPU()),
		busyTimeout:        10 * time.Second,
		checkpointInterval: 100 * time.Millisecond,
		walRestartFrames:   defaultWALRestartFrames,
		commitLinger:       defaultCommitLinger,
		roundSamples:       defaultRoundSamples,
		minStep:            defaultMinStep,
		maxStep:            defaultMaxStep,
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
	s := &Store{
		cfg:     cfg,
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		kick:    make(chan struct{}, 1),
	}
	if err := s.open(ctx, path); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) open(ctx context.Context, path string) error {
	pragmas := fmt.Sprintf("?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", s.cfg.busyTimeout.Milliseconds())
	// Two write-side connections: the writer's and the checkpointer's. The
	// writer never checkpoints itself (wal_autocheckpoint 0), so a
	// checkpoint's I/O does not hold up commits. A new database gets 8 KiB
	// pages: a group commit writes each page it changed to the WAL with two
	// system calls, and with larger pages there are fewer of them (measured:
	// about a fifth less writer CPU per MeterValues than with 4 KiB).
	// page_size comes before journal_mode, which the driver applies after
	// the _pragma list and which fixes the page size of a new file.
	// temp_store=MEMORY keeps the savepoints' sub-journal in memory: by
	// default SQLite moves it to a temporary file once an operation has
	// changed 64 KiB of pages, and then writes every page it saves there.
	// cache_size is 2 MiB per write-side connection: the writer's working
	// set is the trees' inner pages and the tails it appends to (the
	// samples' journal, meter_segments by session, session_meter once a
	// round), while a larger cache filled up with appended pages that are
	// never read again, in 1 MiB arenas of SQLite's allocator. Measured
	// under saturation (1 000 chargers, `chargebridge bench --generator
	// external --scenarios saturation:1000`, alternated 05:21-05:27 UTC):
	// 55.7-62.1 KB of RSS per charger with 2 MiB against 78.7-84.5 KB with
	// 8 MiB, at the same CPU per call (38.3-43.7 against 39.2-42.2 µs).
	// (Before the journal, 64 MiB had grown the RSS by 222 MB and 4 MiB
	// by 49 MB.)
	var err error
	s.wdb, err = sql.Open("sqlite", path+pragmas+"&_pragma=page_size(8192)&_journal_mode=WAL&_pragma=wal_autocheckpoint(0)"+
		"&_pragma=journal_size_limit(67108864)&_pragma=cache_size(-2048)&_pragma=temp_store(MEMORY)"+
		"&_pragma=synchronous("+s.cfg.synchronous+")")
	if err != nil {
		return err
	}
	s.wdb.SetMaxOpenConns(2)
	s.wdb.SetMaxIdleConns(2)
	s.wdb.SetConnMaxIdleTime(0)
	s.wdb.SetConnMaxLifetime(0)
	wconn, err := s.wdb.Conn(ctx)
	if err != nil {
		return err
	}
	var mode string
	if err := wconn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		wconn.Close()
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		wconn.Close()
		return fmt.Errorf("journal mode is %s, not WAL; is the file on a file system without shared memory support?", mode)
	}
	cconn, err := s.wdb.Conn(ctx)
	if err != nil {
		wconn.Close()
		return err
	}
	ready := make(chan error, 1)
	s.answers = make(chan *[]thenCall, 2)
	s.wg.Add(3)
	go s.runWriter(wconn, ready)
	go s.runCheckpointer(cconn)
	go s.runAnswers()
	if err := <-ready; err != nil {
		return err
	}

	s.rdb, err = sql.Open("sqlite", path+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		return err
	}
	s.rdb.SetMaxOpenConns(s.cfg.readConns)
	s.rdb.SetMaxIdleConns(s.cfg.readConns)
	s.rdb.SetConnMaxIdleTime(0)
	s.rdb.SetConnMaxLifetime(0)
	s.r, err = newReader(ctx, s.rdb)
	return err
}

// Close stops taking writes, lets the writer finish the operations already
// queued, stops the checkpointer and closes the database. Closing again
// does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.qmu.Lock()
		s.closed = true
		s.qmu.Unlock()
		close(s.closing)
		s.wg.Wait()
		var errs []error
		if s.r != nil {
			s.r.close()
		}
		if s.rdb != nil {
			errs = append(errs, s.rdb.Close())
		}
		if s.wdb != nil {
			errs = append(errs, s.wdb.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// runWriter is the writer goroutine. It holds the write connection for its
// whole life: it migrates, prepares the statements, reports on ready, then
// runs write operations until Close.
func (s *Store) runWriter(conn *sql.Conn, ready chan<- error) {
	defer s.wg.Done()
	defer close(s.answers) // after the last batch's outcomes
	defer conn.Close()
	err := conn.Raw(func(dc any) error {
		w := newWriter(dc.(driver.Conn))
		defer w.close()
		if err := migrateOwnTx(w, s.cfg.log); err != nil {
			return err
		}
		// Leases were held by the process that had the file before, which
		// is gone (cluster.go).
		if err := w.execScript(`DELETE FROM leases`); err != nil {
			return err
		}
		if err := w.prepare(); err != nil {
			return err
		}
		w.jr.cache, w.jr.m.overlay = &s.journal, &s.overlay
		if err := w.loadJournal(s.cfg.roundSamples, s.cfg.minStep, s.cfg.maxStep); err != nil {
			return err
		}
		s.w = w
		ready <- nil
		s.writeLoop()
		return nil
	})
	if err != nil {
		ready <- err
	}
}

// thenCall is the outcome of an operation whose caller did not wait.
type thenCall struct {
	then func(error)
	err  error
}

var thenCalls = sync.Pool{New: func() any { return new([]thenCall) }}

// runAnswers is the answering goroutine: it tells the callers that did
// not wait the outcomes of each committed batch, in order, until the
// writer ends.
func (s *Store) runAnswers() {
	defer s.wg.Done()
	for calls := range s.answers {
		runThen(calls)
	}
}

// inlineAnswers is the most outcomes of a batch the writer tells itself:
// a few answers cost it little (a socket write each, about 9 µs), and the
// answering goroutine's wake-up added to their latency at a steady few
// thousand calls a second. A larger batch (saturation: 150 and more)
// goes to the answering goroutine, so that its writes run beside the next
// batch.
const inlineAnswers = 32

// runThen tells each caller its outcome, in order, and gives calls back
// to the pool.
func runThen(calls *[]thenCall) {
	for _, c := range *calls {
		c.then(c.err)
	}
	clear(*calls)
	*calls = (*calls)[:0]
	thenCalls.Put(calls)
}

// runCheckpointer is the checkpointer goroutine: after commits, at most
// every checkpointInterval, it copies committed pages from the WAL into the
// database file (a PASSIVE checkpoint, which never blocks the writer) so the
// WAL can start over.
func (s *Store) runCheckpointer(conn *sql.Conn) {
	defer s.wg.Done()
	defer conn.Close()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-s.kick:
		}
		s.checkpoint(conn)
		t.Reset(s.cfg.checkpointInterval)
		select {
		case <-s.closing:
			return
		case <-t.C:
		}
	}
}

// checkpoint runs a PASSIVE checkpoint on conn and notes how long the WAL
// is, for restartWAL.
func (s *Store) checkpoint(conn *sql.Conn) {
	var busy, log, done int64
	s.ckpt.Lock()
	defer s.ckpt.Unlock()
	if err := conn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
		s.cfg.log.Error("checkpoint failed", "err", err)
		return
	}
	s.stats.checkpoints.Add(1)
	s.walFrames.Store(log)
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
	// Checkpoints counts WAL checkpoints run.
	Checkpoints uint64
	// Moved counts samples copied from the journal into segments, in
	// MoveSteps commits; FailedMoves counts steps that failed (their
	// samples stay journalled).
	Moved, MoveSteps, FailedMoves uint64
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Ops:           s.stats.ops.Load(),
		Failed:        s.stats.failed.Load(),
		Commits:       s.stats.commits.Load(),
		FailedCommits: s.stats.failedCommits.Load(),
		MaxBatch:      int(s.stats.maxBatch.Load()),
		Checkpoints:   s.stats.checkpoints.Load(),
		Moved:         s.stats.moved.Load(),
		MoveSteps:     s.stats.moveSteps.Load(),
		FailedMoves:   s.stats.failedMoves.Load(),
	}
}

// Migrate applies the migrations the database does not have yet. Open has
// already done so; Migrate is for a command that only migrates, and is a
// no-op when the schema is current.
func (s *Store) Migrate(ctx context.Context) error {
	return s.write(ctx, func(w *writer) error { return migrateTx(w, s.cfg.log) })
}

// writeOp is one write operation for the writer goroutine.
type writeOp struct {
	fn func(w *writer) error
	// state, under Store.qmu: queued, taken by the writer, or cancelled by
	// its caller before it was taken (the writer then drops it).
	state opState
	// bare: fn runs without a savepoint; see writeBare.
	bare bool
	// meters: the meters held in memory are written to session_meter and
	// forgotten before fn runs (meterstate.go).
	meters bool
	err    error
	done   chan error
	// then, when set, is told the outcome instead of done, after the
	// commit (finish): its caller did not wait (handThen).
	then func(error)
}

type opState int

const (
	opQueued opState = iota
	opTaken
	opCancelled
)

var opPool = sync.Pool{New: func() any { return &writeOp{done: make(chan error, 1)} }}

// write runs fn in the writer's next transaction and returns once that
// transaction has committed (or failed). ctx bounds the wait to be queued;
// once queued, the operation is part of a shared transaction and the caller
// waits for its outcome. fn may read and write sessions: the meters the
// writer holds are in session_meter before it runs (meterstate.go).
func (s *Store) write(ctx context.Context, fn func(w *writer) error) error {
	return s.hand(ctx, fn, false, true)
}

// writeOther is write for an operation that neither reads nor writes
// session_meter: the meters the writer holds stay in memory.
func (s *Store) writeOther(ctx context.Context, fn func(w *writer) error) error {
	return s.hand(ctx, fn, false, false)
}

// writeBare is write for an operation that runs without a savepoint of
// its own (a SAVEPOINT and its RELEASE cost about as much as a statement):
// fn either fails before it changed anything, and says so by returning an
// error made by unchanged, or any error it returns fails the whole
// transaction, every operation in it.
func (s *Store) writeBare(ctx context.Context, fn func(w *writer) error) error {
	return s.hand(ctx, fn, true, false)
}

// unchangedError is the error of a bare operation that wrote nothing.
type unchangedError struct{ err error }

func (e unchangedError) Error() string { return e.err.Error() }
func (e unchangedError) Unwrap() error { return e.err }

// unchanged marks err as the error of a bare operation (writeBare) that
// changed nothing: the transaction goes on without it.
func unchanged(err error) error { return unchangedError{err} }

func (s *Store) hand(ctx context.Context, fn func(w *writer) error, bare, meters bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := opPool.Get().(*writeOp)
	op.fn, op.bare, op.meters, op.state = fn, bare, meters, opQueued
	if err := s.enqueue(op); err != nil {
		return err
	}
	var err error
	select {
	case err = <-op.done:
	case <-ctx.Done():
		s.qmu.Lock()
		taken := op.state == opTaken
		if !taken {
			op.state = opCancelled
		}
		s.qmu.Unlock()
		if !taken {
			// The writer drops it when it comes to it; the op is not
			// reused.
			return ctx.Err()
		}
		err = <-op.done
	}
	op.fn, op.err = nil, nil
	opPool.Put(op)
	return err
}

// handThen is hand for a caller that does not wait: then is told the
// outcome once after the commit, on the writer's goroutine or the
// answering one (inlineAnswers; it must not block: the callers of the
// batches after it wait behind it, nor wait for the store), or on the
// caller's before handThen returns when the operation was not queued. The
// operation runs even if ctx ends once it is queued.
func (s *Store) handThen(ctx context.Context, fn func(w *writer) error, bare, meters bool, then func(error)) {
	if err := ctx.Err(); err != nil {
		then(err)
		return
	}
	op := opPool.Get().(*writeOp)
	op.fn, op.bare, op.meters, op.state, op.then = fn, bare, meters, opQueued, then
	if err := s.enqueue(op); err != nil {
		then(err)
	}
}

// enqueue queues op for the writer, or gives it back to the pool and
// fails when the store is closed.
func (s *Store) enqueue(op *writeOp) error {
	s.qmu.Lock()
	if s.closed {
		s.qmu.Unlock()
		op.fn, op.then = nil, nil
		opPool.Put(op)
		return ErrClosed
	}
	s.queue = append(s.queue, op)
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // the writer has been told already
	}
	return nil
}

// take returns the next operation queued and not cancelled, or nil.
func (s *Store) take() *writeOp {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	for {
		if s.next == len(s.taken) {
			if len(s.queue) == 0 {
				return nil
			}
			// Swap: callers append to the emptied slice.
			clear(s.taken)
			s.taken, s.queue, s.next = s.queue, s.taken[:0], 0
		}
		op := s.taken[s.next]
		s.next++
		if op.state == opCancelled {
			continue
		}
		op.state = opTaken
		return op
	}
}

// writeLoop runs batches of write operations until Close, then drains.
func (s *Store) writeLoop() {
	batch := make([]*writeOp, 0, s.cfg.maxBatch)
	for {
		if op := s.take(); op != nil {
			batch = s.runBatch(batch[:0], op)
			continue
		}
		select {
		case <-s.wake:
		case <-s.closing:
			// Close refuses new operations before it closes closing:
			// what is queued now is all there will be.
			for op := s.take(); op != nil; op = s.take() {
				batch = s.runBatch(batch[:0], op)
			}
			return
		}
	}
}

// batchYields is how many times a batch lets other goroutines run when
// no operation is waiting, before it commits.
const batchYields = 4

// A batch of fewer than lingerOps operations, when the one before had
// several (chargers are sending at once), waits up to commitLinger from
// its start for more operations before committing, as PostgreSQL's
// commit_delay does. At a few thousand MeterValues a second, spread out,
// commits otherwise carry two or three each: an fsync and the WAL pages
// of a transaction per two or three calls. Measured at 5 000 calls/s
// (BENCHMARKS.md): about 10 calls per commit instead of 2.5, and a
// quarter less CPU per call, for about 1.4 ms more at the median. A
// single charger at a time never waits; under saturation batches are
// full anyway.
const (
	defaultCommitLinger = time.Millisecond
	lingerOps           = 16
)

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// waitWake waits until an operation is handed over or until, and says
// which came first (the writer goroutine's).
func (s *Store) waitWake(until time.Time) bool {
	d := time.Until(until)
	if d <= 0 {
		return false
	}
	if s.lingerT == nil {
		s.lingerT = time.NewTimer(d)
	} else {
		s.lingerT.Reset(d)
	}
	select {
	case <-s.wake:
		s.lingerT.Stop()
		return true
	case <-s.lingerT.C:
		return false
	}
}

// runBatch runs first and whatever other operations are waiting in one
// transaction, then answers them all.
func (s *Store) runBatch(batch []*writeOp, first *writeOp) []*writeOp {
	w := s.w
	batch = append(batch, first)
	began := time.Now()
	if err := w.run(w.begin); err != nil {
		s.stats.failedCommits.Add(1)
		s.finish(batch, fmt.Errorf("begin write transaction: %w", err))
		return batch
	}
	w.jr.begin()
	deadline := time.Now().Add(s.cfg.maxBatchDur)
	fatal := s.runOp(first)
	yields := 0
	for fatal == nil && len(batch) < s.cfg.maxBatch && time.Now().Before(deadline) {
		op := s.take()
		if op == nil {
			// Let the goroutines that are about to hand over an
			// operation run before committing without them: under load
			// a commit then covers more operations, and its cost is
			// shared by more. With nothing else runnable this returns
			// at once.
			if yields < batchYields {
				yields++
				runtime.Gosched()
				continue
			}
			if len(batch) < lingerOps && s.lastBatch >= 2 && s.waitWake(minTime(began.Add(s.cfg.commitLinger), deadline)) {
				continue
			}
			break
		}
		batch = append(batch, op)
		fatal = s.runOp(op)
	}
	var moved int
	if fatal == nil {
		moved, fatal = s.compact()
	}
	if fatal == nil {
		if err := w.run(w.commit); err != nil {
			fatal = fmt.Errorf("commit: %w", err)
		}
	}
	if fatal != nil {
		s.stats.failedCommits.Add(1)
		// The transaction may already be gone (SQLite rolls back on some
		// errors); a failing ROLLBACK then says nothing new.
		_ = w.run(w.rollback)
		w.jr.begin()
		w.wroteEvents = false
		s.cfg.log.Error("write transaction failed", "ops", len(batch), "err", fatal)
		s.finish(batch, fatal)
		return batch
	}
	w.jr.committed(time.Now())
	s.stats.commits.Add(1)
	if moved > 0 {
		s.stats.moved.Add(uint64(moved))
		s.stats.moveSteps.Add(1)
	}
	if f := s.cfg.commitObserver; f != nil {
		f(time.Since(began))
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	if w.wroteEvents {
		w.wroteEvents = false
		s.events.Notify()
	}
	if n := int64(len(batch)); n > s.stats.maxBatch.Load() {
		s.stats.maxBatch.Store(n)
	}
	s.lastBatch = len(batch)
	s.finish(batch, nil)
	s.restartWAL()
	return batch
}

// defaultWALRestartFrames is the WAL length, in frames (16 MiB), past
// which the writer finishes a checkpoint itself (restartWAL).
const defaultWALRestartFrames = 2048

// restartWAL lets the WAL start over from its beginning. SQLite rewinds the
// WAL when a write transaction begins after a checkpoint copied every
// frame; under steady commits the checkpointer never gets there (frames
// arrive while it copies), and the WAL would grow for as long as the load
// lasts, every commit appending to the file (new blocks for the file
// system to allocate and journal at each fsync) instead of overwriting it.
// So, once the WAL is long, the writer, between its transactions, copies
// the few frames the checkpointer has not: no commit can come in between.
// Its callers have been answered already.
func (s *Store) restartWAL() {
	if s.walFrames.Load() < s.cfg.walRestartFrames || !s.ckpt.TryLock() {
		return
	}
	defer s.ckpt.Unlock()
	r := s.w.queryRowSQL("PRAGMA wal_checkpoint(PASSIVE)")
	var busy, log, done int64
	if err := r.Scan(&busy, &log, &done); err != nil {
		s.cfg.log.Error("checkpoint failed", "err", err)
		return
	}
	s.stats.checkpoints.Add(1)
	s.walFrames.Store(0)
}

// compact writes the transaction's journal row and the round's next
// segments (journal.go). A failed segment step is logged and undone, the
// samples stay journalled, and the operations commit all the same. Any
// other error is returned: the transaction is lost. moved is the samples
// put into segments.
func (s *Store) compact() (moved int, fatal error) {
	n, stepErr, fatal := s.w.flushJournal()
	if stepErr != nil {
		s.stats.failedMoves.Add(1)
		s.cfg.log.Error("writing sample segments failed", "err", stepErr)
	}
	return n, fatal
}

// runOp runs one operation inside a savepoint (a bare one without, see
// writeBare). The operation's own error is kept for its caller; an error
// of the savepoint itself, or any but an unchanged one of a bare
// operation, dooms the whole transaction and is returned.
func (s *Store) runOp(op *writeOp) (fatal error) {
	w := s.w
	if op.meters {
		if err := w.flushAllMeters(); err != nil {
			return err
		}
	}
	if op.bare {
		op.err = op.fn(w)
		if op.err == nil {
			return nil
		}
		// Declared here: errors.As moves it to the heap, an allocation
		// per operation when it was declared for every one.
		var u unchangedError
		if !errors.As(op.err, &u) {
			return fmt.Errorf("operation without savepoint: %w", op.err)
		}
		op.err = u.err
		return nil
	}
	if err := w.run(w.savepoint); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	op.err = op.fn(w)
	if op.err != nil {
		if err := w.run(w.rollbackTo); err != nil {
			return fmt.Errorf("roll back to savepoint after %v: %w", op.err, err)
		}
	}
	if err := w.run(w.release); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// finish answers every operation of a batch: with its own error, or with
// txErr when the transaction failed.
func (s *Store) finish(batch []*writeOp, txErr error) {
	s.stats.ops.Add(uint64(len(batch)))
	var failed uint64
	var calls *[]thenCall
	for i, op := range batch {
		err := op.err
		if txErr != nil {
			err = txErr
		}
		if err != nil {
			failed++
		}
		batch[i] = nil
		if then := op.then; then != nil {
			op.fn, op.err, op.then = nil, nil, nil
			opPool.Put(op)
			if calls == nil {
				calls = thenCalls.Get().(*[]thenCall)
			}
			*calls = append(*calls, thenCall{then, err})
			continue
		}
		op.done <- err
	}
	s.stats.failed.Add(failed)
	if calls == nil {
		return
	}
	if len(*calls) <= inlineAnswers {
		runThen(calls)
		return
	}
	s.answers <- calls
}
