package postgres

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// The benchmarks mirror those of the SQLite store (same scenarios, same
// parallelism, same samples) so their figures compare. They need
// CHARGEBRIDGE_TEST_POSTGRES; each run works in a schema of its own.

// benchParallelism is goroutines per GOMAXPROCS: many chargers talking at
// once, as on a real central system.
const benchParallelism = 64

func openBench(b *testing.B, opts []Option, params ...string) *Store {
	b.Helper()
	dsn := pgtest.Schema(b)
	for i := 0; i+1 < len(params); i += 2 {
		dsn = pgtest.WithParam(b, dsn, params[i], params[i+1])
	}
	s, err := Open(context.Background(), dsn, opts...)
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchSessions creates n chargers with an active session each and returns
// the sessions.
func benchSessions(b *testing.B, s *Store, n int) []charging.Session {
	b.Helper()
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	txs := make([]charging.Session, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			id := fmt.Sprintf("cp-%04d", i)
			if err := s.CreateCharger(ctx, charging.Charger{ID: id, Registered: true, CreatedAt: t0}); err != nil {
				b.Error(err)
				return
			}
			sess, _, err := s.StartSession(ctx, charging.StartSession{ID: charging.NewID(), StartKey: id, ChargerID: id, ConnectorID: 1,
				IDTag: "TAG", Status: charging.SessionActive, MeterStartWh: 1000, StartedAt: t0, ReceivedAt: t0})
			if err != nil {
				b.Error(err)
				return
			}
			txs[i] = sess
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return txs
}

// meterSample is a typical periodic sample of an AC charger: register,
// power, three phase currents and state of charge.
func meterSample(ts time.Time, n int) charging.MeterSample {
	kwh := 1 + float64(n)/1000
	v := func(m, phase, unit string, val float64, raw, rawUnit string) charging.SampledValue {
		return charging.SampledValue{Measurand: m, Phase: phase, Location: "Outlet", Context: "Sample.Periodic",
			Unit: unit, Value: val, Numeric: true, Raw: raw, RawUnit: rawUnit}
	}
	return charging.MeterSample{Timestamp: ts, Values: []charging.SampledValue{
		v(charging.MeasurandEnergyImportRegister, "", "kWh", kwh, strconv.FormatFloat(kwh*1000, 'f', -1, 64), "Wh"),
		v(charging.MeasurandPowerImport, "", "kW", 10.95, "10950", "W"),
		v(charging.MeasurandCurrentImport, "L1", "A", 15.9, "15.9", "A"),
		v(charging.MeasurandCurrentImport, "L2", "A", 15.8, "15.8", "A"),
		v(charging.MeasurandCurrentImport, "L3", "A", 16.0, "16.0", "A"),
		v(charging.MeasurandSoC, "", "Percent", 42, "42", "Percent"),
	}}
}

// counters is what the benchmarks measure besides time.
type counters struct {
	cpu, serverCPU, machineCPU time.Duration
	walSyncs                   int64
	// walBytes and walFPI are the server's WAL bytes and full-page images
	// written; checkpoints counts its checkpoints (timed and requested).
	walBytes, walFPI, checkpoints int64
	meter                         MeterStats
}

func (s *Store) readCounters(b *testing.B) counters {
	c := counters{cpu: cpuTime(), serverCPU: serverCPUTime(), machineCPU: machineCPUTime(), meter: s.MeterStats()}
	// WAL flushes of the whole server (PostgreSQL 14 and later): with
	// group commit, concurrent commits share one.
	if err := s.pool.QueryRow(context.Background(), `SELECT w.wal_sync, w.wal_bytes::bigint, w.wal_fpi, b.checkpoints_timed + b.checkpoints_req
		FROM pg_stat_wal w, pg_stat_bgwriter b`).Scan(&c.walSyncs, &c.walBytes, &c.walFPI, &c.checkpoints); err != nil {
		c.walSyncs = -1
	}
	return c
}

// report adds ops/s, CPU per op of this process and of the server,
// the cores the rest of the machine used meanwhile, operations per WAL
// flush, WAL bytes and full-page images per operation,
// the checkpoints during the run and, for meter values, operations per
// commit. The WAL figures are the whole server's.
func report(b *testing.B, s *Store, before counters) {
	after := s.readCounters(b)
	n := float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(after.cpu-before.cpu)/n/1e3, "cpu-µs/op")
	if d := after.serverCPU - before.serverCPU; d > 0 {
		b.ReportMetric(float64(d)/n/1e3, "pg-cpu-µs/op")
	}
	if d := after.machineCPU - before.machineCPU; d > 0 {
		// The cores the rest of the machine took meanwhile.
		others := d - (after.cpu - before.cpu) - (after.serverCPU - before.serverCPU)
		b.ReportMetric(max(0, others.Seconds())/b.Elapsed().Seconds(), "others-cores")
	}
	if d := after.walSyncs - before.walSyncs; before.walSyncs >= 0 && d > 0 {
		b.ReportMetric(n/float64(d), "ops/walsync")
		b.ReportMetric(float64(after.walBytes-before.walBytes)/n, "walB/op")
		b.ReportMetric(float64(after.walFPI-before.walFPI)/n, "fpi/op")
		b.ReportMetric(float64(after.checkpoints-before.checkpoints), "checkpoints")
	}
	if d := after.meter.Batches - before.meter.Batches; d > 0 {
		b.ReportMetric(float64(after.meter.Ops-before.meter.Ops)/float64(d), "ops/commit")
	}
}

// BenchmarkWriteMeterValues stores MeterValues of one 6-value sample each
// from many concurrent callers, spread over 1000 charging sessions: with the
// default synchronous_commit=on (acknowledged writes are flushed), with off
// (a crash of the database server may lose the last ones), and on without
// the meter writers (one statement and commit per MeterValues).
func BenchmarkWriteMeterValues(b *testing.B) {
	for _, bc := range []struct {
		name   string
		opts   []Option
		params []string
	}{
		{"sync=on", nil, nil},
		{"sync=off", nil, []string{"synchronous_commit", "off"}},
		{"sync=on/unbatched", []Option{WithMeterBatching(0, 1)}, nil},
	} {
		b.Run(bc.name, func(b *testing.B) { benchAppend(b, openBench(b, bc.opts, bc.params...)) })
	}
}

// BenchmarkMeterWriters is BenchmarkWriteMeterValues/sync=on with 1 to 8
// meter writers, to choose the default.
func BenchmarkMeterWriters(b *testing.B) {
	for _, n := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("writers=%d", n), func(b *testing.B) {
			benchAppend(b, openBench(b, []Option{WithMeterBatching(n, 256)}))
		})
	}
}

func benchAppend(b *testing.B, s *Store) {
	const sessions = 1000
	sess := benchSessions(b, s, sessions)
	// Each session is written by one caller at a time, as a charger sends
	// one message at a time; the core's fold is done here.
	locks := make([]sync.Mutex, sessions)
	t0 := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	var next atomic.Int64
	before := s.readCounters(b)
	b.SetParallelism(benchParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			// Every session in turn, as when all chargers send.
			n := int(next.Add(1))
			i := n % sessions
			locks[i].Lock()
			ss := &sess[i]
			m := charging.MeterValues{ChargerID: ss.ChargerID, ConnectorID: 1, TransactionID: &ss.TransactionID,
				Samples: []charging.MeterSample{meterSample(t0.Add(time.Duration(n)*time.Millisecond), n/sessions)}, ReceivedAt: t0}
			folded, _ := charging.Fold(*ss, m)
			err := s.WriteMeterValues(ctx, charging.MeterWrite{MeterValues: m, Seq: ss.Seq, Version: ss.MeterVersion, Meter: folded.Meter()})
			if err == nil {
				ss.SetMeter(folded.Meter())
				ss.MeterVersion++
			}
			locks[i].Unlock()
			if err != nil {
				b.Errorf("WriteMeterValues: %v", err)
				return
			}
		}
	})
	report(b, s, before)
}

// BenchmarkStartStop starts and stops sessions from many concurrent
// chargers; one op is a start and its stop.
func BenchmarkStartStop(b *testing.B) {
	s := openBench(b, nil)
	const chargers = 1000
	benchSessions(b, s, chargers)
	t0 := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	var next, seq atomic.Int64
	before := s.readCounters(b)
	b.SetParallelism(benchParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		charger := fmt.Sprintf("cp-%04d", int(next.Add(1))%chargers)
		ctx := context.Background()
		for pb.Next() {
			n := seq.Add(1)
			sess, _, err := s.StartSession(ctx, charging.StartSession{ID: charging.NewID(), StartKey: strconv.FormatInt(n, 10),
				ChargerID: charger, ConnectorID: 2, IDTag: "TAG", Status: charging.SessionActive, MeterStartWh: 1000,
				StartedAt: t0, ReceivedAt: t0})
			if err != nil {
				b.Errorf("StartSession: %v", err)
				return
			}
			if _, err := s.StopSession(ctx, charging.StopSession{ChargerID: charger, TransactionID: sess.TransactionID,
				MeterStopWh: 5000, EndedAt: t0.Add(time.Hour), Reason: "Local", Status: charging.SessionCompleted,
				ReceivedAt: t0.Add(time.Hour)}); err != nil {
				b.Errorf("StopSession: %v", err)
				return
			}
		}
	})
	report(b, s, before)
}

// BenchmarkSetConnectorStatus: a StatusNotification's store write, each a
// newer status of connector 1 of one charger's EVSE 1 (applied, with its
// event): the upsert, the read of the EVSE's connectors for its folded
// status, the event.
func BenchmarkSetConnectorStatus(b *testing.B) {
	s := openBench(b, nil)
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	if err := s.CreateCharger(ctx, charging.Charger{ID: "cp-st", CreatedAt: t0}); err != nil {
		b.Fatal(err)
	}
	statuses := []charging.ConnectorStatus{charging.StatusAvailable, charging.StatusPreparing, charging.StatusCharging}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at := t0.Add(time.Duration(i+1) * time.Second)
		if _, applied, err := s.SetConnectorStatus(ctx, charging.Connector{ChargerID: "cp-st", ConnectorID: 1,
			Status: statuses[i%len(statuses)], StatusAt: at, UpdatedAt: at}); err != nil || !applied {
			b.Fatalf("SetConnectorStatus: %v, %v", applied, err)
		}
	}
}
