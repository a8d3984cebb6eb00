package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// ErrClosed is returned by meter writes to a closed Store.
var ErrClosed = errors.New("postgres store is closed")

// Meter values are the bulk of what chargers send. Their writes go through
// a few writer goroutines: each takes the first waiting AppendMeterValues
// and as many more as are waiting at that moment (never waiting for more),
// folds and inserts them all with one statement in one transaction, and
// answers each caller once it committed. Under load this turns hundreds of
// commits into one, with no delay when there is no load.

// meterFold is what a MeterValues changes in its session.
type meterFold struct {
	register, maxPower *float64
	power, soc         *float64
	powerAt, socAt     *int64
	received           *int64
}

// newer reports whether a reading at b replaces one at a, as the fold's SQL
// decides: when a has no time, or b's is no older. (NULL compares false.)
func newer(a, b *int64) bool { return a == nil || (b != nil && *b >= *a) }

func maxPtr(a, b *float64) *float64 {
	if a == nil || (b != nil && *b > *a) {
		return b
	}
	return a
}

// then merges g, a later MeterValues of the same session, into f: the
// result applied once leaves the session as f then g would.
func (f meterFold) then(g meterFold) meterFold {
	f.register, f.maxPower = maxPtr(f.register, g.register), maxPtr(f.maxPower, g.maxPower)
	if g.power != nil && (f.power == nil || newer(f.powerAt, g.powerAt)) {
		f.power, f.powerAt = g.power, g.powerAt
	}
	if g.soc != nil && (f.soc == nil || newer(f.socAt, g.socAt)) {
		f.soc, f.socAt = g.soc, g.socAt
	}
	f.received = g.received
	return f
}

// meterOp is one AppendMeterValues handed to a meter writer.
type meterOp struct {
	tx        *string
	charger   string
	connector int32
	fold      meterFold
	ts        []*int64
	vals      []string

	found bool
	err   error
	done  chan struct{}
}

var meterOpPool = sync.Pool{New: func() any { return &meterOp{done: make(chan struct{}, 1)} }}

// sqlAppendMeterBatch is sqlAppendMeter for many MeterValues: $1–$9 are the
// merged folds, one per session (k is the position), $10–$16 the samples,
// each with the k of its fold (0 for none). It returns the k of every fold
// that found its session.
const sqlAppendMeterBatch = `WITH v AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::double precision[], $4::double precision[],
			$5::double precision[], $6::bigint[], $7::double precision[], $8::bigint[], $9::bigint[])
			WITH ORDINALITY AS v (tx, charger, register, max_power, power, power_at, soc, soc_at, received, k)
	), f AS (
		UPDATE sessions s SET
		last_register_wh = GREATEST(s.last_register_wh, v.register),
		max_power_kw = GREATEST(s.max_power_kw, v.max_power),
		last_power_kw = CASE WHEN v.power IS NOT NULL AND (s.last_power_at IS NULL OR v.power_at >= s.last_power_at) THEN v.power ELSE s.last_power_kw END,
		last_power_at = CASE WHEN v.power IS NOT NULL AND (s.last_power_at IS NULL OR v.power_at >= s.last_power_at) THEN v.power_at ELSE s.last_power_at END,
		soc = CASE WHEN v.soc IS NOT NULL AND (s.soc_at IS NULL OR v.soc_at >= s.soc_at) THEN v.soc ELSE s.soc END,
		soc_at = CASE WHEN v.soc IS NOT NULL AND (s.soc_at IS NULL OR v.soc_at >= s.soc_at) THEN v.soc_at ELSE s.soc_at END,
		last_updated = v.received
		FROM v WHERE s.charger_id = v.charger AND s.transaction_id = v.tx
		RETURNING v.k, s.seq
	), ins AS (
		INSERT INTO meter_samples (session_seq, charger_id, connector_id, transaction_id, ts, received_at, vals)
		SELECT f.seq, u.charger, u.connector, u.tx, u.ts, u.received, u.vals::json
		FROM unnest($10::bigint[], $11::text[], $12::integer[], $13::text[], $14::bigint[], $15::bigint[], $16::text[])
			WITH ORDINALITY AS u (k, charger, connector, tx, ts, received, vals, n)
		LEFT JOIN f ON f.k = u.k
		ORDER BY u.n
	)
	SELECT k FROM f`

// meterWriters runs the meter writer goroutines.
type meterWriters struct {
	s        *Store
	maxBatch int
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

func startMeterWriters(s *Store, writers, maxBatch int) *meterWriters {
	w := &meterWriters{s: s, maxBatch: maxBatch, ops: make(chan *meterOp), closing: make(chan struct{})}
	for range writers {
		w.wg.Go(w.loop)
	}
	return w
}

// close stops taking operations, lets the writers finish those they have
// taken, and waits for them.
func (w *meterWriters) close() {
	close(w.closing)
	w.wg.Wait()
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
	return op.err
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
	if len(batch) > 1 {
		w.stats.batches.Add(1)
		found, err := w.s.appendBatch(ctx, b)
		if err == nil {
			for _, op := range batch {
				op.found = op.tx != nil && found[b.keyOf(op)]
				op.err = nil
				op.done <- struct{}{}
			}
			return
		}
		w.s.cfg.log.Warn("batched meter values failed; writing them one by one", "ops", len(batch), "err", err)
		w.stats.retried.Add(uint64(len(batch)))
	} else {
		w.stats.batches.Add(1)
	}
	for _, op := range batch {
		op.found, op.err = w.s.appendOne(ctx, op)
		op.done <- struct{}{}
	}
}

// meterBatch collects the arrays of sqlAppendMeterBatch.
type meterBatch struct {
	keys map[txKey]int // charger and transaction id → k (1-based)
	// folds, one per session: ordered by charger and transaction id when
	// sent, so concurrent batches lock sessions in one order.
	fTx      []string
	fCharger []string
	folds    []meterFold
	// samples
	sK         []int64
	sCharger   []string
	sConnector []int32
	sTx        []*string
	sTS        []*int64
	sReceived  []*int64
	sVals      []string
}

func (b *meterBatch) reset() {
	if b.keys == nil {
		b.keys = map[txKey]int{}
	}
	clear(b.keys)
	b.fTx, b.fCharger, b.folds = b.fTx[:0], b.fCharger[:0], b.folds[:0]
	b.sK, b.sCharger, b.sConnector, b.sTx = b.sK[:0], b.sCharger[:0], b.sConnector[:0], b.sTx[:0]
	b.sTS, b.sReceived, b.sVals = b.sTS[:0], b.sReceived[:0], b.sVals[:0]
}

// keyOf returns op's k, which add assigned.
func (b *meterBatch) keyOf(op *meterOp) int64 {
	if op.tx == nil {
		return 0
	}
	return int64(b.keys[txKey{op.charger, *op.tx}])
}

// txKey names a session in a batch: transaction ids are unique per charger.
type txKey struct{ charger, tx string }

// add adds op, merging its fold with an earlier one of the same session
// (the charger is part of a session's key, so any op joins).
func (b *meterBatch) add(op *meterOp) {
	k := 0
	if op.tx != nil {
		key := txKey{op.charger, *op.tx}
		var ok bool
		if k, ok = b.keys[key]; ok {
			b.folds[k-1] = b.folds[k-1].then(op.fold)
		} else {
			b.fTx, b.fCharger, b.folds = append(b.fTx, *op.tx), append(b.fCharger, op.charger), append(b.folds, op.fold)
			k = len(b.fTx)
			b.keys[key] = k
		}
	}
	for i := range op.ts {
		b.sK, b.sCharger, b.sConnector = append(b.sK, int64(k)), append(b.sCharger, op.charger), append(b.sConnector, op.connector)
		b.sTx, b.sTS, b.sReceived, b.sVals = append(b.sTx, op.tx), append(b.sTS, op.ts[i]), append(b.sReceived, op.fold.received), append(b.sVals, op.vals[i])
	}
}

// appendBatch runs a batch and returns which folds found their session.
func (s *Store) appendBatch(ctx context.Context, b *meterBatch) (map[int64]bool, error) {
	// Send the folds in charger and transaction id order; the ks stay
	// those of add.
	n := len(b.fTx)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int {
		if c := strings.Compare(b.fCharger[x], b.fCharger[y]); c != 0 {
			return c
		}
		return strings.Compare(b.fTx[x], b.fTx[y])
	})
	var (
		tx                             = make([]string, n)
		charger                        = make([]string, n)
		register, maxPower, power, soc = make([]*float64, n), make([]*float64, n), make([]*float64, n), make([]*float64, n)
		powerAt, socAt, received       = make([]*int64, n), make([]*int64, n), make([]*int64, n)
		posToK                         = make([]int64, n)
	)
	for pos, i := range order {
		f := &b.folds[i]
		tx[pos], charger[pos] = b.fTx[i], b.fCharger[i]
		register[pos], maxPower[pos], power[pos], soc[pos] = f.register, f.maxPower, f.power, f.soc
		powerAt[pos], socAt[pos], received[pos] = f.powerAt, f.socAt, f.received
		posToK[pos] = int64(i + 1)
	}
	// The statement's k is the position in the sent arrays; map samples'
	// ks to positions.
	kToPos := make([]int64, n+1)
	for pos, k := range posToK {
		kToPos[k] = int64(pos + 1)
	}
	sK := make([]int64, len(b.sK))
	for i, k := range b.sK {
		sK[i] = kToPos[k]
	}
	rows, err := s.pool.Query(ctx, sqlAppendMeterBatch, tx, charger, register, maxPower, power, powerAt, soc, socAt, received,
		sK, b.sCharger, b.sConnector, b.sTx, b.sTS, b.sReceived, b.sVals)
	if err != nil {
		return nil, err
	}
	found := map[int64]bool{}
	var pos int64
	_, err = pgx.ForEachRow(rows, []any{&pos}, func() error {
		found[posToK[pos-1]] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// appendOne writes one MeterValues with sqlAppendMeter.
func (s *Store) appendOne(ctx context.Context, op *meterOp) (bool, error) {
	f := &op.fold
	var n int64
	err := s.pool.QueryRow(ctx, sqlAppendMeter, f.register, f.maxPower, f.power, f.powerAt, f.soc, f.socAt, f.received,
		op.tx, op.charger, op.connector, op.ts, op.vals).Scan(&n)
	return n > 0, err
}

// appendWithDoc writes one MeterValues and puts d in one transaction, so
// that both commit or neither (MeterValues.Doc). It bypasses the meter
// writers' batches, whose statement has no room for documents.
func (s *Store) appendWithDoc(ctx context.Context, op *meterOp, d charging.Doc) (found bool, err error) {
	if d.Kind == "" || d.ID == "" {
		return false, fmt.Errorf("put document %q/%q: %w: kind and id must not be empty", d.Kind, d.ID, charging.ErrInvalidInput)
	}
	updated, err := encTime(d.Updated)
	if err != nil {
		return false, fmt.Errorf("put document %s/%s: %w", d.Kind, d.ID, err)
	}
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	f := &op.fold
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlPutDoc, d.Kind, d.ID, d.Owner, body, updated); err != nil {
			return fmt.Errorf("put document %s/%s: %w", d.Kind, d.ID, err)
		}
		var n int64
		err := tx.QueryRow(ctx, sqlAppendMeter, f.register, f.maxPower, f.power, f.powerAt, f.soc, f.socAt, f.received,
			op.tx, op.charger, op.connector, op.ts, op.vals).Scan(&n)
		found = n > 0
		return err
	})
	return found, err
}
