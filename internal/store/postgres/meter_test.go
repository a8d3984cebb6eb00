package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// sessionState is what a fold changes, and applyFold is the fold's SQL in
// Go: the model the merged folds are checked against.
type sessionState struct {
	register, maxPower float64
	power, soc         *float64
	powerAt, socAt     *int64
	updated            *int64
}

func applyFold(s sessionState, f meterFold) sessionState {
	if f.register != nil && *f.register > s.register {
		s.register = *f.register
	}
	if f.maxPower != nil && *f.maxPower > s.maxPower {
		s.maxPower = *f.maxPower
	}
	if f.power != nil && (s.powerAt == nil || (f.powerAt != nil && *f.powerAt >= *s.powerAt)) {
		s.power, s.powerAt = f.power, f.powerAt
	}
	if f.soc != nil && (s.socAt == nil || (f.socAt != nil && *f.socAt >= *s.socAt)) {
		s.soc, s.socAt = f.soc, f.socAt
	}
	s.updated = f.received
	return s
}

func TestMeterFoldThen(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	// Few distinct values, so ties and NULLs are common.
	f64 := func() *float64 {
		if r.IntN(3) == 0 {
			return nil
		}
		v := float64(r.IntN(4))
		return &v
	}
	i64 := func() *int64 {
		if r.IntN(3) == 0 {
			return nil
		}
		v := int64(r.IntN(4))
		return &v
	}
	fold := func() meterFold {
		return meterFold{register: f64(), maxPower: f64(), power: f64(), soc: f64(), powerAt: i64(), socAt: i64(), received: i64()}
	}
	state := func() sessionState {
		s := sessionState{power: f64(), soc: f64(), powerAt: i64(), socAt: i64(), updated: i64()}
		if p := f64(); p != nil {
			s.register = *p
		}
		if p := f64(); p != nil {
			s.maxPower = *p
		}
		return s
	}
	str := func(s sessionState) string {
		p := func(f *float64) string {
			if f == nil {
				return "nil"
			}
			return fmt.Sprint(*f)
		}
		q := func(i *int64) string {
			if i == nil {
				return "nil"
			}
			return fmt.Sprint(*i)
		}
		return fmt.Sprintf("register %v max %v power %s@%s soc %s@%s updated %s",
			s.register, s.maxPower, p(s.power), q(s.powerAt), p(s.soc), q(s.socAt), q(s.updated))
	}
	for i := range 20000 {
		s, folds := state(), make([]meterFold, 1+r.IntN(4))
		for j := range folds {
			folds[j] = fold()
		}
		seq := s
		merged := folds[0]
		for j, f := range folds {
			seq = applyFold(seq, f)
			if j > 0 {
				merged = merged.then(f)
			}
		}
		if got, want := str(applyFold(s, merged)), str(seq); got != want {
			t.Fatalf("case %d: merged folds give %s; want %s (one by one)", i, got, want)
		}
	}
}

// TestMeterBatch runs batches by hand, so their content is certain.
func TestMeterBatch(t *testing.T) {
	st, err := Open(t.Context(), pgtest.Schema(t), WithMeterBatching(0, 256))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	ctx := t.Context()
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	var txs []string
	for _, id := range []string{"cp-1", "cp-2"} {
		if err := st.CreateCharger(ctx, charging.Charger{ID: id, Registered: true, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		sess, _, err := st.StartSession(ctx, charging.StartSession{ID: "s-" + id, StartKey: id, ChargerID: id, ConnectorID: 1,
			IDTag: "TAG", Status: charging.SessionActive, MeterStartWh: 1000, StartedAt: t0, ReceivedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, sess.TransactionID)
	}
	// Writers without goroutines: the test hands them batches.
	w := &meterWriters{s: st, maxBatch: 256, ops: make(chan *meterOp), closing: make(chan struct{})}
	st.meter = w
	mk := func(charger string, tx *string, kwh, kw float64, at time.Duration) *meterOp {
		op := &meterOp{done: make(chan struct{}, 1)}
		v := func(m string, x float64) charging.SampledValue {
			return charging.SampledValue{Measurand: m, Value: x, Numeric: true, Raw: fmt.Sprint(x)}
		}
		err := op.encode(charging.MeterValues{ChargerID: charger, ConnectorID: 1, TransactionID: tx, ReceivedAt: t0.Add(at),
			Samples: []charging.MeterSample{{Timestamp: t0.Add(at), Values: []charging.SampledValue{
				v(charging.MeasurandEnergyImportRegister, kwh), v(charging.MeasurandPowerImport, kw)}}}})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	run := func(ops ...*meterOp) {
		var b meterBatch
		b.reset()
		for _, op := range ops {
			b.add(op)
		}
		w.run(ops, &b)
		for _, op := range ops {
			<-op.done
		}
	}
	unknown := txs[1] + "000"

	t.Run("merged-per-session", func(t *testing.T) {
		ops := []*meterOp{
			mk("cp-1", &txs[0], 5, 7, 3*time.Minute),
			mk("cp-2", &txs[1], 9, 11, time.Minute),
			mk("cp-1", &txs[0], 4, 22, time.Minute), // older: raises max power only
			mk("cp-1", nil, 99, 99, time.Minute),
			mk("cp-1", &unknown, 99, 99, time.Minute),
			mk("cp-1", &txs[0], 6, 3, 3*time.Minute), // same time: replaces power
		}
		run(ops...)
		wantFound := []bool{true, true, true, false, false, true}
		for i, op := range ops {
			if op.err != nil || op.found != wantFound[i] {
				t.Errorf("op %d: got found %v, %v; want %v, nil", i, op.found, op.err, wantFound[i])
			}
		}
		got := getSessionT(t, st, "s-cp-1")
		if got.LastRegisterWh != 6000 || got.MaxPowerKW != 22 || got.LastPowerKW == nil || *got.LastPowerKW != 3 || !got.LastUpdated.Equal(t0.Add(3*time.Minute)) {
			t.Errorf("cp-1 session: got register %v max %v power %v updated %v; want 6000 22 3 %v",
				got.LastRegisterWh, got.MaxPowerKW, got.LastPowerKW, got.LastUpdated, t0.Add(3*time.Minute))
		}
		samples, err := st.SessionSamples(ctx, "s-cp-1")
		if err != nil || len(samples) != 3 {
			t.Errorf("cp-1 samples: got %d, %v; want 3", len(samples), err)
		}
		if other := getSessionT(t, st, "s-cp-2"); other.LastRegisterWh != 9000 {
			t.Errorf("cp-2 session: got register %v; want 9000", other.LastRegisterWh)
		}
	})

	t.Run("other-chargers-transaction-id", func(t *testing.T) {
		// Transaction ids are unique per charger: cp-2 naming cp-1's id
		// in the same batch reaches no session (cp-2 has none of that id).
		mine, theirs := mk("cp-1", &txs[0], 7, 1, time.Hour), mk("cp-2", &txs[0], 70, 1, time.Hour)
		run(mine, theirs)
		if mine.err != nil || !mine.found || theirs.err != nil || theirs.found {
			t.Errorf("got found %v, %v and %v, %v; want true, nil and false, nil", mine.found, mine.err, theirs.found, theirs.err)
		}
		if got := getSessionT(t, st, "s-cp-2"); got.LastRegisterWh != 9000 {
			t.Errorf("cp-2 session: got register %v; want 9000 (untouched)", got.LastRegisterWh)
		}
		if got := getSessionT(t, st, "s-cp-1"); got.LastRegisterWh != 7000 {
			t.Errorf("cp-1 session: got register %v; want 7000", got.LastRegisterWh)
		}
	})

	t.Run("failing-op-fails-alone", func(t *testing.T) {
		before := st.MeterStats()
		bad := mk("cp-\x00", nil, 1, 1, time.Hour) // PostgreSQL text cannot hold NUL
		good := mk("cp-2", &txs[1], 10, 1, time.Hour)
		run(mk("cp-1", &txs[0], 8, 1, time.Hour), bad, good)
		if bad.err == nil {
			t.Errorf("op with a NUL in the charger id: got no error")
		}
		if good.err != nil || !good.found {
			t.Errorf("good op in the same batch: got found %v, %v; want true, nil", good.found, good.err)
		}
		if got := getSessionT(t, st, "s-cp-2"); got.LastRegisterWh != 10000 {
			t.Errorf("cp-2 session: got register %v; want 10000", got.LastRegisterWh)
		}
		if after := st.MeterStats(); after.Retried-before.Retried != 3 {
			t.Errorf("retried: got %d; want 3", after.Retried-before.Retried)
		}
	})
}

func getSessionT(t *testing.T, st *Store, id string) charging.Session {
	t.Helper()
	s, err := st.GetSession(t.Context(), id)
	if err != nil {
		t.Fatalf("GetSession(%s): %v", id, err)
	}
	return s
}

// TestMeterWritersShareCommits checks that concurrent MeterValues do share
// statements, and that Close lets the writers finish.
func TestMeterWritersShareCommits(t *testing.T) {
	st, err := Open(t.Context(), pgtest.Schema(t), WithMeterBatching(1, 256))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	if err := st.CreateCharger(ctx, charging.Charger{ID: "cp-1", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	sess, _, err := st.StartSession(ctx, charging.StartSession{ID: "s-1", ChargerID: "cp-1", ConnectorID: 1, IDTag: "T",
		Status: charging.SessionActive, StartedAt: t0, ReceivedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	const callers, each = 50, 20
	errs := make(chan error, callers*each)
	for c := range callers {
		go func() {
			for i := range each {
				n := float64(c*each + i)
				_, err := st.AppendMeterValues(ctx, charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &sess.TransactionID,
					ReceivedAt: t0, Samples: []charging.MeterSample{{Timestamp: t0.Add(time.Duration(n) * time.Second),
						Values: []charging.SampledValue{{Measurand: charging.MeasurandEnergyImportRegister, Value: n, Numeric: true, Raw: "x"}}}}})
				errs <- err
			}
		}()
	}
	for range callers * each {
		if err := <-errs; err != nil {
			t.Fatalf("AppendMeterValues: %v", err)
		}
	}
	stats := st.MeterStats()
	if stats.Ops != callers*each || stats.Batches >= stats.Ops || stats.MaxBatch < 2 {
		t.Errorf("meter stats: got %+v; want %d ops in fewer batches", stats, callers*each)
	}
	if got := getSessionT(t, st, "s-1"); got.LastRegisterWh != (callers*each-1)*1000 {
		t.Errorf("register: got %v; want %v", got.LastRegisterWh, (callers*each-1)*1000)
	}
	st.Close()
	_, err = st.AppendMeterValues(ctx, charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, ReceivedAt: t0})
	if !errors.Is(err, ErrClosed) {
		t.Errorf("AppendMeterValues after Close: got %v; want %v", err, ErrClosed)
	}
}
