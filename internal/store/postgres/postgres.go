package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/coalesce"
	"github.com/chargebridge/chargebridge/internal/store/eventlog"
)

var _ charging.Store = (*Store)(nil)

// Defaults for what the URL does not set.
const (
	// DefaultConnectTimeout bounds dialing the server (connect_timeout).
	DefaultConnectTimeout = 10 * time.Second
	// DefaultStatementTimeout is the server's statement_timeout for every
	// statement: a stuck database fails a charger's call, which the charger
	// retries, instead of holding it forever.
	DefaultStatementTimeout = 10 * time.Second
)

// DefaultMaxConns is the pool size when the URL has no pool_max_conns: every
// write is one short round trip, so a few connections per CPU keep the
// server busy without queueing behind one another.
func DefaultMaxConns() int32 { return int32(max(8, 4*runtime.NumCPU())) }

// Store is a charging.Store in a PostgreSQL database. It is safe for
// concurrent use, also by several processes on one database.
type Store struct {
	pool  *pgxpool.Pool
	cfg   config
	meter *meterWriters
	// lockNS scopes the advisory locks of this store to its schema, so
	// stores in other schemas of the same database do not contend.
	lockNS string

	// events wakes the event log's consumers after a commit with events.
	events eventlog.Notifier

	// cluster is what nodes sharing the database need to do work once
	// (cluster.go).
	cluster cluster
	// touches runs concurrent TouchCharger calls (heartbeats) as one
	// statement.
	touches coalesce.Batcher[touch, bool]
	// chargerWrites runs concurrent RecordBoot and SetConnectorStatus
	// calls in one transaction (chargerwrites.go).
	chargerWrites coalesce.Batcher[chargerWrite, chargerWritten]

	closeOnce sync.Once
}

// Option configures Open.
type Option func(*config)

type config struct {
	log                    *slog.Logger
	meterWriters, maxBatch int
	// commitObserver hears how long each write statement took.
	commitObserver func(time.Duration)
	// tracer, when set, traces the pool's statements (tests).
	tracer pgx.QueryTracer
}

// WithLogger sets the logger for migrations and write failures; the
// default discards.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithCommitObserver has f told how long each statement that writes took
// (every write is its own transaction, committed when it returns), for
// /metrics. Reads are not observed.
func WithCommitObserver(f func(time.Duration)) Option {
	return func(c *config) { c.commitObserver = f }
}

// WithMeterBatching sets how many goroutines write meter values (2 by
// default) and how many MeterValues one of them may put in one statement
// (256). With writers 0, every MeterValues is its own statement, run in the
// caller's goroutine.
func WithMeterBatching(writers, maxBatch int) Option {
	return func(c *config) { c.meterWriters, c.maxBatch = writers, maxBatch }
}

// Open connects to the database dsn names (a postgres:// URL or a libpq
// keyword/value string), applies any pending migrations and returns the
// store. Settings the URL leaves out get defaults: connect_timeout
// DefaultConnectTimeout, statement_timeout DefaultStatementTimeout,
// pool_max_conns DefaultMaxConns, application_name chargebridge. Errors
// are one line that says what to do, and never contain the password.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg := config{log: slog.New(slog.DiscardHandler), meterWriters: 2, maxBatch: 256}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.meterWriters < 0 || cfg.maxBatch < 1 {
		return nil, fmt.Errorf("open PostgreSQL store: meter writers must be at least 0 and the batch at least 1")
	}
	pc, err := parseConfig(dsn)
	if err != nil {
		return nil, err
	}
	where := describeTarget(pc)
	if cfg.commitObserver != nil {
		pc.ConnConfig.Tracer = commitTracer{cfg.commitObserver}
	}
	if cfg.tracer != nil {
		pc.ConnConfig.Tracer = cfg.tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, startupError(where, err)
	}
	s := &Store{pool: pool, cfg: cfg}
	s.touches = coalesce.Batcher[touch, bool]{Do: s.touchChargers, Timeout: 10 * time.Second, Runners: 2, Max: 2000}
	s.chargerWrites = coalesce.Batcher[chargerWrite, chargerWritten]{Do: s.writeChargers, Timeout: 10 * time.Second, Runners: 2, Max: 256}
	if err := s.setUp(ctx, pc.ConnConfig.ConnectTimeout); err != nil {
		pool.Close()
		return nil, startupError(where, err)
	}
	if err := s.cluster.init(ctx, pc, s.lockNS); err != nil {
		pool.Close()
		return nil, startupError(where, err)
	}
	if cfg.meterWriters > 0 {
		mp, err := pgxpool.NewWithConfig(ctx, meterPoolConfig(pc, cfg.meterWriters))
		if err != nil {
			s.cluster.close()
			pool.Close()
			return nil, startupError(where, err)
		}
		s.meter = startMeterWriters(s, mp, cfg.meterWriters, cfg.maxBatch)
	}
	return s, nil
}

// setUp connects, finds the schema and migrates it.
func (s *Store) setUp(ctx context.Context, connectTimeout time.Duration) error {
	// Connecting may hang on a server that accepts TCP but never answers;
	// the dial timeout does not cover that part.
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(cctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var schema *string
	if err := conn.QueryRow(cctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return err
	}
	if schema == nil {
		return errNoSchema
	}
	s.lockNS = *schema
	return migrate(ctx, conn.Conn(), *schema, s.cfg.log)
}

// parseConfig reads dsn and fills in the defaults.
func parseConfig(dsn string) (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, &openError{msg: "--db: " + parseErrorText(err) + "; use postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=…", err: err}
	}
	cc := pc.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = DefaultConnectTimeout
		d := &net.Dialer{Timeout: DefaultConnectTimeout, KeepAlive: 5 * time.Minute}
		cc.DialFunc = d.DialContext
	}
	if _, ok := cc.RuntimeParams["statement_timeout"]; !ok {
		cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(DefaultStatementTimeout.Milliseconds(), 10)
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "chargebridge"
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		pc.MaxConns = DefaultMaxConns()
	}
	return pc, nil
}

// Close stops taking meter values, lets the meter writers finish what they
// took, and closes the pool, waiting for connections in use to be given
// back. Every acknowledged write is already committed. Closing again does
// nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.meter != nil {
			s.meter.close()
		}
		s.cluster.close()
		s.touches.Wait()
		s.chargerWrites.Wait()
		s.pool.Close()
	})
	return nil
}

// Migrate applies the migrations the database does not have yet. Open has
// already done so; Migrate is for a command that only migrates, and is a
// no-op when the schema is current.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	return migrate(ctx, conn.Conn(), s.lockNS, s.cfg.log)
}

// Pool returns the connection pool, for statistics (Pool().Stat()).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// connectorLock is the advisory lock key of a charger's connector in this
// store's schema.
func (s *Store) connectorLock(charger string, connector int) int64 {
	h := fnv.New64a()
	h.Write([]byte("chargebridge connector\x00"))
	h.Write([]byte(s.lockNS))
	h.Write([]byte{0})
	h.Write([]byte(charger))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, int64(connector), 10))
	return int64(h.Sum64())
}

// migrationLock is the advisory lock key that serializes migrations of one
// schema.
func migrationLock(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("chargebridge migrate\x00"))
	h.Write([]byte(schema))
	return int64(h.Sum64())
}

// openError is an error of Open: one line for the operator, with the cause
// kept for errors.Is and errors.As.
type openError struct {
	msg string
	err error
}

func (e *openError) Error() string { return e.msg }
func (e *openError) Unwrap() error { return e.err }

var errNoSchema = errors.New("no schema of the search_path exists")

// commitTracer times the statements that write (everything but SELECT and
// SHOW) for WithCommitObserver.
type commitTracer struct{ observe func(time.Duration) }

type traceStart struct{}

func (t commitTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if isRead(d.SQL) {
		return ctx
	}
	return context.WithValue(ctx, traceStart{}, time.Now())
}

func (t commitTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	if start, ok := ctx.Value(traceStart{}).(time.Time); ok && d.Err == nil {
		t.observe(time.Since(start))
	}
}

// isRead reports whether a statement only reads.
func isRead(sql string) bool {
	sql = strings.TrimLeft(sql, " \t\r\n(")
	return len(sql) >= 6 && (strings.EqualFold(sql[:6], "SELECT") || strings.EqualFold(sql[:4], "SHOW"))
}

// A batch (start and stop of a session) runs as one implicit transaction.
func (t commitTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, traceStart{}, time.Now())
}

func (t commitTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (t commitTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	if start, ok := ctx.Value(traceStart{}).(time.Time); ok && d.Err == nil {
		t.observe(time.Since(start))
	}
}

var (
	_ pgx.QueryTracer = commitTracer{}
	_ pgx.BatchTracer = commitTracer{}
)
