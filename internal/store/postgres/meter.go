package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// ErrClosed is returned by meter writes to a closed Store.
var ErrClosed = errors.New("postgres store is closed")

// Meter values are the bulk of what chargers send. Their writes go through
// a few writer goroutines: each takes the first waiting WriteMeterValues
// and as many more as are waiting at that moment (never waiting for more),
// writes them all with one statement in one transaction, and answers each
// caller once it committed. Under load this turns hundreds of commits into
// one, with no delay when there is no load. The core folded each
// MeterValues: the statement writes each session's meter by primary key
// over the version it was folded from (compare and set) and inserts the
// samples of the writes that applied; a write that missed its version
// gets ErrConflict and writes nothing.

// meterOp is one WriteMeterValues handed to a meter writer.
type meterOp struct {
	seq, version int64
	tx           *string
	charger      string
	connector    int32
	// The folded meter.
	register, maxPower float64
	power, soc         *float64
	powerAt, socAt     *int64
	updated, received  *int64
	ts                 []*int64
	// vals are the samples' sampled values in package sampled's binary
	// form, each a slice of buf.
	vals [][]byte
	buf  []byte

	applied bool
	err     error
	done    chan struct{}
}

var meterOpPool = sync.Pool{New: func() any { return &meterOp{done: make(chan struct{}, 1)} }}

// result is op's outcome after its statement ran.
func (op *meterOp) result() error {
	if op.err == nil && op.seq != 0 && !op.applied {
		return fmt.Errorf("%w: session %d is not at meter version %d", charging.ErrConflict, op.seq, op.version)
	}
	return op.err
}

// sqlWriteMeter writes meter values: $1–$9 are the folded meters, one per
// write with a session (k is the position), each written over its version;
// $10–$17 the samples, each with the k of its write (0 for samples of no
// session). Samples of a write whose version missed are not inserted. It
// returns the k of every write that applied.
const sqlWriteMeter = `WITH v AS (
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::double precision[], $4::double precision[],
			$5::double precision[], $6::bigint[], $7::double precision[], $8::bigint[], $9::bigint[])
			WITH ORDINALITY AS v (seq, version, register, max_power, power, power_at, soc, soc_at, updated, k)
	), f AS (
		UPDATE sessions s SET last_register_wh = v.register, max_power_kw = v.max_power,
		last_power_kw = v.power, last_power_at = v.power_at, soc = v.soc, soc_at = v.soc_at,
		last_updated = v.updated, meter_version = v.version + 1
		FROM v WHERE s.seq = v.seq AND s.meter_version = v.version
		RETURNING v.k
	), ins AS (
		INSERT INTO meter_samples (session_seq, charger_id, connector_id, transaction_id, ts, received_at, vbin)
		SELECT nullif(u.seq, 0), u.charger, u.connector, u.tx, u.ts, u.received, u.vals
		FROM unnest($10::bigint[], $11::bigint[], $12::text[], $13::integer[], $14::text[], $15::bigint[], $16::bigint[], $17::bytea[])
			WITH ORDINALITY AS u (k, seq, charger, connector, tx, ts, received, vals, n)
		WHERE u.k = 0 OR u.k IN (SELECT k FROM f)
		ORDER BY u.n
	)
	SELECT k FROM f`

// meterWriters runs the meter writer goroutines.
type meterWriters struct {
	s        *Store
	maxBatch int
	// pool is the writers' own, one connection each, on which the server
	// plans sqlWriteMeter once (see meterPoolConfig).
	pool *pgxpool.Pool
	// ops hands operations to the writers. It is unbuffered: an operation
	// is queued once a writer has taken it, so none is stranded at Close.
	ops     chan *meterOp
	closing chan struct{}
	wg      sync.WaitGroup

	stats struct {
		ops, batches, retried atomic.Uint64
		maxBatch              atomic.Int64
	}
}

// MeterStats counts the meter writers' work since Open.
type MeterStats struct {
	// Ops is the number of MeterValues written; Batches the number of
	// statements (each its own transaction) that wrote them, far below Ops
	// under concurrent load. Retried counts MeterValues written one by one
	// after their batch failed. MaxBatch is the largest batch.
	Ops, Batches, Retried uint64
	MaxBatch              int
}

// MeterStats returns the meter writers' counters (zero without writers).
func (s *Store) MeterStats() MeterStats {
	if s.meter == nil {
		return MeterStats{}
	}
	st := &s.meter.stats
	return MeterStats{Ops: st.ops.Load(), Batches: st.batches.Load(), Retried: st.retried.Load(), MaxBatch: int(st.maxBatch.Load())}
}

// meterPoolConfig is the configuration of the meter writers' pool: pc's,
// with a connection per writer and, for each setting below the URL does
// not set, PostgreSQL's generic plan for every execution, with the
// sessions reached by primary key. Left to choose, the server plans
// sqlWriteMeter anew for every batch (its estimate of the generic plan,
// with 100 rows per unnest, loses to a custom plan's): about 1.2 ms of
// server CPU per batch of 37, a third of its cost per MeterValues. A
// generic plan is kept until the table's statistics change, and on a
// sessions table never analyzed (autovacuum off) it hashes a sequential
// scan of every session for each batch, so hash and merge joins and
// sequential scans are off on these connections, which run only this
// statement: a nested loop over the batch's sessions by sessions_pkey.
func meterPoolConfig(pc *pgxpool.Config, writers int) *pgxpool.Config {
	mc := pc.Copy()
	mc.MaxConns, mc.MinConns = int32(writers), 0
	for k, v := range meterPlanSettings {
		if _, ok := mc.ConnConfig.RuntimeParams[k]; !ok {
			mc.ConnConfig.RuntimeParams[k] = v
		}
	}
	return mc
}

// meterPlanSettings are the meter writers' planner settings
// (meterPoolConfig).
var meterPlanSettings = map[string]string{
	"plan_cache_mode":  "force_generic_plan",
	"enable_hashjoin":  "off",
	"enable_mergejoin": "off",
	"enable_seqscan":   "off",
}

func startMeterWriters(s *Store, pool *pgxpool.Pool, writers, maxBatch int) *meterWriters {
	w := &meterWriters{s: s, pool: pool, maxBatch: maxBatch, ops: make(chan *meterOp), closing: make(chan struct{})}
	for range writers {
		w.wg.Go(w.loop)
	}
	return w
}

// close stops taking operations, lets the writers finish those they have
// taken, waits for them and closes their pool.
func (w *meterWriters) close() {
	close(w.closing)
	w.wg.Wait()
	w.pool.Close()
}

// do runs op and returns once its transaction committed or failed. ctx
// bounds the wait to be taken by a writer; once taken, the operation shares
// a transaction with others and the caller waits for its outcome (bounded
// by the statement timeout).
func (w *meterWriters) do(ctx context.Context, op *meterOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case w.ops <- op:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.closing:
		return ErrClosed
	}
	<-op.done
	return op.result()
}

func (w *meterWriters) loop() {
	var (
		batch []*meterOp
		b     meterBatch
	)
	for {
		var first *meterOp
		select {
		case first = <-w.ops:
		case <-w.closing:
			// Callers that raced Close may still be handing over
			// operations; take them until none is waiting.
			select {
			case first = <-w.ops:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
		b.reset()
		b.add(first)
	gather:
		for len(batch) < w.maxBatch {
			select {
			case op := <-w.ops:
				b.add(op)
				batch = append(batch, op)
			default:
				break gather
			}
		}
		w.run(batch, &b)
	}
}

// run writes a batch and answers its callers. A failed batch is retried op
// by op, so one failing operation fails alone.
func (w *meterWriters) run(batch []*meterOp, b *meterBatch) {
	ctx := context.Background()
	w.stats.ops.Add(uint64(len(batch)))
	if n := int64(len(batch)); n > w.stats.maxBatch.Load() {
		w.stats.maxBatch.Store(n)
	}
	w.stats.batches.Add(1)
	if len(batch) > 1 {
		err := w.s.writeBatch(ctx, w.pool, b)
		if err == nil {
			for _, op := range batch {
				op.err = nil
				op.done <- struct{}{}
			}
			return
		}
		w.s.cfg.log.Warn("batched meter values failed; writing them one by one", "ops", len(batch), "err", err)
		w.stats.retried.Add(uint64(len(batch)))
	}
	for _, op := range batch {
		op.err = w.s.writeOne(ctx, w.pool, op)
		op.done <- struct{}{}
	}
}

// meterBatch is the ops of one statement.
type meterBatch struct {
	ops []*meterOp
}

func (b *meterBatch) reset() {
	clear(b.ops)
	b.ops = b.ops[:0]
}

func (b *meterBatch) add(op *meterOp) { b.ops = append(b.ops, op) }

// writeBatch runs sqlWriteMeter for the batch's ops on q and marks those
// that applied.
func (s *Store) writeBatch(ctx context.Context, q querier, b *meterBatch) error {
	// The meters go in seq order, so that concurrent batches lock
	// sessions in one order; k is the position there.
	withSession := make([]*meterOp, 0, len(b.ops))
	nSamples := 0
	for _, op := range b.ops {
		op.applied = false
		if op.seq != 0 {
			withSession = append(withSession, op)
		}
		nSamples += len(op.ts)
	}
	slices.SortStableFunc(withSession, func(x, y *meterOp) int { return cmp.Compare(x.seq, y.seq) })
	n := len(withSession)
	var (
		seq, version            = make([]int64, n), make([]int64, n)
		register, maxPower      = make([]float64, n), make([]float64, n)
		power, soc              = make([]*float64, n), make([]*float64, n)
		powerAt, socAt, updated = make([]*int64, n), make([]*int64, n), make([]*int64, n)
	)
	k := make(map[*meterOp]int64, n)
	for i, op := range withSession {
		seq[i], version[i], register[i], maxPower[i] = op.seq, op.version, op.register, op.maxPower
		power[i], soc[i], powerAt[i], socAt[i], updated[i] = op.power, op.soc, op.powerAt, op.socAt, op.updated
		k[op] = int64(i + 1)
	}
	var (
		sK, sSeq      = make([]int64, 0, nSamples), make([]int64, 0, nSamples)
		sCharger      = make([]string, 0, nSamples)
		sConnector    = make([]int32, 0, nSamples)
		sTx           = make([]*string, 0, nSamples)
		sTS, received = make([]*int64, 0, nSamples), make([]*int64, 0, nSamples)
		sVals         = make([][]byte, 0, nSamples)
	)
	for _, op := range b.ops {
		for i := range op.ts {
			sK, sSeq, sCharger, sConnector = append(sK, k[op]), append(sSeq, op.seq), append(sCharger, op.charger), append(sConnector, op.connector)
			sTx, sTS, received, sVals = append(sTx, op.tx), append(sTS, op.ts[i]), append(received, op.received), append(sVals, op.vals[i])
		}
	}
	rows, err := q.Query(ctx, sqlWriteMeter, seq, version, register, maxPower, power, powerAt, soc, socAt, updated,
		sK, sSeq, sCharger, sConnector, sTx, sTS, received, sVals)
	if err != nil {
		return err
	}
	var pos int64
	_, err = pgx.ForEachRow(rows, []any{&pos}, func() error {
		withSession[pos-1].applied = true
		return nil
	})
	return err
}

// querier runs a statement on a pool or in a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// writeOne writes one op with sqlWriteMeter.
func (s *Store) writeOne(ctx context.Context, q querier, op *meterOp) error {
	return s.writeBatch(ctx, q, &meterBatch{ops: []*meterOp{op}})
}

// writeWithDoc writes one MeterValues and puts d in one transaction, so
// that both commit or neither (MeterValues.Doc). It bypasses the meter
// writers' batches, whose statement has no room for documents.
func (s *Store) writeWithDoc(ctx context.Context, op *meterOp, d charging.Doc) error {
	if d.Kind == "" || d.ID == "" {
		return fmt.Errorf("put document %q/%q: %w: kind and id must not be empty", d.Kind, d.ID, charging.ErrInvalidInput)
	}
	updated, err := encTime(d.Updated)
	if err != nil {
		return fmt.Errorf("put document %s/%s: %w", d.Kind, d.ID, err)
	}
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlPutDoc, d.Kind, d.ID, d.Owner, body, updated); err != nil {
			return fmt.Errorf("put document %s/%s: %w", d.Kind, d.ID, err)
		}
		if err := s.writeOne(ctx, tx, op); err != nil {
			return err
		}
		return op.result() // a missed version rolls the document back too
	})
}
