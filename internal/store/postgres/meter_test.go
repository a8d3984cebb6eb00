package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

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
	w := &meterWriters{s: st, pool: st.pool, maxBatch: 256, ops: make(chan *meterOp), closing: make(chan struct{})}
	st.meter = w
	// mk folds a MeterValues into the session as it is stored (seq 0:
	// unattached) and encodes the write.
	mk := func(charger string, sess *charging.Session, kwh, kw float64, at time.Duration) *meterOp {
		op := &meterOp{done: make(chan struct{}, 1)}
		v := func(m string, x float64) charging.SampledValue {
			return charging.SampledValue{Measurand: m, Value: x, Numeric: true, Raw: fmt.Sprint(x)}
		}
		m := charging.MeterValues{ChargerID: charger, ConnectorID: 1, ReceivedAt: t0.Add(at),
			Samples: []charging.MeterSample{{Timestamp: t0.Add(at), Values: []charging.SampledValue{
				v(charging.MeasurandEnergyImportRegister, kwh), v(charging.MeasurandPowerImport, kw)}}}}
		mw := charging.MeterWrite{MeterValues: m}
		if sess != nil {
			m.TransactionID = &sess.TransactionID
			folded, _ := charging.Fold(*sess, m)
			mw = charging.MeterWrite{MeterValues: m, Seq: sess.Seq, Version: sess.MeterVersion, Meter: folded.Meter()}
		}
		if err := op.encode(&mw); err != nil {
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
	s1, s2 := getSessionT(t, st, "s-cp-1"), getSessionT(t, st, "s-cp-2")

	t.Run("compare-and-set-per-write", func(t *testing.T) {
		ops := []*meterOp{
			mk("cp-1", &s1, 5, 7, 3*time.Minute),
			mk("cp-2", &s2, 9, 11, time.Minute),
			mk("cp-1", &s1, 4, 22, time.Minute), // same version as the first: only one applies
			mk("cp-1", nil, 99, 99, time.Minute),
		}
		run(ops...)
		applied := 0
		for i, op := range ops {
			err := op.result()
			switch {
			case i == 0 || i == 2:
				if err == nil {
					applied++
				} else if !errors.Is(err, charging.ErrConflict) {
					t.Errorf("op %d: got %v; want nil or ErrConflict", i, err)
				}
			case err != nil:
				t.Errorf("op %d: got %v; want nil", i, err)
			}
		}
		if applied != 1 {
			t.Fatalf("writes over one version of cp-1's session: %d applied; want exactly 1", applied)
		}
		got := getSessionT(t, st, "s-cp-1")
		if got.MeterVersion != s1.MeterVersion+1 {
			t.Errorf("cp-1 meter version: got %d; want %d", got.MeterVersion, s1.MeterVersion+1)
		}
		if ops[0].applied && (got.LastRegisterWh != 5000 || got.MaxPowerKW != 7) || ops[2].applied && (got.LastRegisterWh != 4000 || got.MaxPowerKW != 22) {
			t.Errorf("cp-1 session: got register %v max %v; want those of the write that applied", got.LastRegisterWh, got.MaxPowerKW)
		}
		samples, err := st.SessionSamples(ctx, "s-cp-1")
		if err != nil || len(samples) != 1 {
			t.Errorf("cp-1 samples: got %d, %v; want 1 (none of the write that missed)", len(samples), err)
		}
		if other := getSessionT(t, st, "s-cp-2"); other.LastRegisterWh != 9000 || other.MeterVersion != s2.MeterVersion+1 {
			t.Errorf("cp-2 session: got register %v version %d; want 9000, %d", other.LastRegisterWh, other.MeterVersion, s2.MeterVersion+1)
		}
		s1, s2 = got, getSessionT(t, st, "s-cp-2")
	})

	t.Run("failing-op-fails-alone", func(t *testing.T) {
		before := st.MeterStats()
		bad := mk("cp-\x00", nil, 1, 1, time.Hour) // PostgreSQL text cannot hold NUL
		good := mk("cp-2", &s2, 10, 1, time.Hour)
		run(mk("cp-1", &s1, 8, 1, time.Hour), bad, good)
		if bad.result() == nil {
			t.Errorf("op with a NUL in the charger id: got no error")
		}
		if err := good.result(); err != nil {
			t.Errorf("good op in the same batch: got %v; want nil", err)
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
				m := charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &sess.TransactionID,
					ReceivedAt: t0, Samples: []charging.MeterSample{{Timestamp: t0.Add(time.Duration(n) * time.Second),
						Values: []charging.SampledValue{{Measurand: charging.MeasurandEnergyImportRegister, Value: n, Numeric: true, Raw: "x"}}}}}
				// Read, fold, write over the version read; again on a miss.
				for {
					cur, err := st.SessionByTransaction(ctx, "cp-1", sess.TransactionID)
					if err != nil {
						errs <- err
						break
					}
					folded, _ := charging.Fold(cur, m)
					err = st.WriteMeterValues(ctx, charging.MeterWrite{MeterValues: m, Seq: cur.Seq, Version: cur.MeterVersion, Meter: folded.Meter()})
					if !errors.Is(err, charging.ErrConflict) {
						errs <- err
						break
					}
				}
			}
		}()
	}
	for range callers * each {
		if err := <-errs; err != nil {
			t.Fatalf("WriteMeterValues: %v", err)
		}
	}
	stats := st.MeterStats()
	if stats.Ops < callers*each || stats.Batches >= stats.Ops || stats.MaxBatch < 2 {
		t.Errorf("meter stats: got %+v; want at least %d ops in fewer batches", stats, callers*each)
	}
	if samples, err := st.SessionSamples(ctx, "s-1"); err != nil || len(samples) != callers*each {
		t.Errorf("samples: got %d, %v; want %d, each once", len(samples), err, callers*each)
	}
	if got := getSessionT(t, st, "s-1"); got.LastRegisterWh != (callers*each-1)*1000 {
		t.Errorf("register: got %v; want %v", got.LastRegisterWh, (callers*each-1)*1000)
	}
	st.Close()
	err = st.WriteMeterValues(ctx, charging.MeterWrite{MeterValues: charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, ReceivedAt: t0}})
	if !errors.Is(err, ErrClosed) {
		t.Errorf("WriteMeterValues after Close: got %v; want %v", err, ErrClosed)
	}
}

// TestMeterWritersPlanOnce: the meter writers' connections run their
// statement on PostgreSQL's generic plan (planned once per connection, not
// per batch), unless the URL chooses otherwise, without hash joins or
// sequential scans; the store's other connections keep the server's
// choice.
func TestMeterWritersPlanOnce(t *testing.T) {
	for _, tt := range []struct {
		name, param, want string
	}{
		{"default", "", "force_generic_plan"},
		{"url-chooses", "force_custom_plan", "force_custom_plan"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dsn := pgtest.Schema(t)
			if tt.param != "" {
				dsn = pgtest.WithParam(t, dsn, "plan_cache_mode", tt.param)
			}
			st, err := Open(t.Context(), dsn)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer st.Close()
			var writers, others string
			if err := st.meter.pool.QueryRow(t.Context(), `SHOW plan_cache_mode`).Scan(&writers); err != nil {
				t.Fatal(err)
			}
			if err := st.pool.QueryRow(t.Context(), `SHOW plan_cache_mode`).Scan(&others); err != nil {
				t.Fatal(err)
			}
			wantOthers := "auto"
			if tt.param != "" {
				wantOthers = tt.param
			}
			if writers != tt.want || others != wantOthers {
				t.Errorf("plan_cache_mode: writers %s, others %s; want %s, %s", writers, others, tt.want, wantOthers)
			}
			// The sessions by primary key, whatever their statistics.
			var join, seq string
			if err := st.meter.pool.QueryRow(t.Context(), `SELECT current_setting('enable_hashjoin'), current_setting('enable_seqscan')`).Scan(&join, &seq); err != nil {
				t.Fatal(err)
			}
			if join != "off" || seq != "off" {
				t.Errorf("writers' enable_hashjoin %s, enable_seqscan %s; want off, off", join, seq)
			}
		})
	}
}
