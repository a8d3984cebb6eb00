package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// benchParallelism is goroutines per GOMAXPROCS: many chargers talking at
// once, as on a real central system.
const benchParallelism = 64

func openBench(b *testing.B, opts ...Option) *Store {
	b.Helper()
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), opts...)
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
	for i := range n {
		wg.Go(func() {
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

func reportWriter(b *testing.B, s *Store, before Stats, cpu0 time.Duration) {
	reportCPU(b, cpu0)
	after := s.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	if c := after.Commits - before.Commits; c > 0 {
		b.ReportMetric(float64(after.Ops-before.Ops)/float64(c), "ops/commit")
	}
}

// BenchmarkWriteMeterValues stores MeterValues of one 6-value sample each
// from many concurrent callers, spread over 1000 charging sessions, with the
// default synchronous=FULL and with NORMAL: the store's part of a
// MeterValues, the core's fold done (each session's meter written by
// primary key over its version).
func BenchmarkWriteMeterValues(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []Option
	}{
		{"sync=full", nil},
		{"sync=normal", []Option{WithSynchronousNormal()}},
		// The same without checkpoints during the run, to count the WAL
		// frames (pages) its commits write: on fresh sessions, and on
		// sessions that have 200 samples each already in meter_samples
		// (written before migration 0016, when each new sample dirtied a
		// page of that table's per-session index; journalled samples no
		// longer touch it, so the two should read alike).
		{"sync=full/wal-frames", []Option{withCheckpointInterval(time.Hour)}},
		{"sync=full/wal-frames/200-samples-each", []Option{withCheckpointInterval(time.Hour)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var commits commitTimes
			s := openBench(b, append(bc.opts, WithCommitObserver(commits.add))...)
			const sessions = 1000
			sess := benchSessions(b, s, sessions)
			countFrames := strings.Contains(bc.name, "wal-frames")
			if strings.HasSuffix(bc.name, "200-samples-each") {
				prefillSamples(b, s, sess, 200)
			}
			if countFrames {
				walFrames(b, s, "TRUNCATE")
			}
			// Each session is written by one caller at a time, as a
			// charger sends one message at a time.
			locks := make([]sync.Mutex, sessions)
			t0 := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
			var next atomic.Int64
			before, cpu0 := s.Stats(), cpuTime()
			commits.reset()
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
					err := writeFolded(ctx, s, ss, m)
					locks[i].Unlock()
					if err != nil {
						b.Errorf("WriteMeterValues: %v", err)
						return
					}
				}
			})
			reportWriter(b, s, before, cpu0)
			commits.report(b)
			if countFrames {
				frames := walFrames(b, s, "PASSIVE")
				commits := s.Stats().Commits - before.Commits
				b.ReportMetric(float64(frames)/float64(commits), "frames/commit")
				b.ReportMetric(float64(frames)*8192/1024/float64(b.N), "WAL-KiB/op")
			}
		})
	}
}

// writeFolded writes m with the session's meter folded, as the core does,
// and moves ss on to the new meter and version.
func writeFolded(ctx context.Context, s *Store, ss *charging.Session, m charging.MeterValues) error {
	folded, _ := charging.Fold(*ss, m)
	if err := s.WriteMeterValues(ctx, charging.MeterWrite{MeterValues: m, Seq: ss.Seq, Version: ss.MeterVersion, Meter: folded.Meter()}); err != nil {
		return err
	}
	ss.SetMeter(folded.Meter())
	ss.MeterVersion++
	return nil
}

// commitTimes collects how long write transactions took.
type commitTimes struct {
	mu sync.Mutex
	d  []time.Duration
}

func (c *commitTimes) add(d time.Duration) {
	c.mu.Lock()
	c.d = append(c.d, d)
	c.mu.Unlock()
}

func (c *commitTimes) reset() {
	c.mu.Lock()
	c.d = c.d[:0]
	c.mu.Unlock()
}

// report reports the median, 99th percentile and longest commit in ms.
func (c *commitTimes) report(b *testing.B) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.d) == 0 {
		return
	}
	slices.Sort(c.d)
	ms := func(q float64) float64 { return float64(c.d[int(q*float64(len(c.d)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), "commit-p50-ms")
	b.ReportMetric(ms(0.99), "commit-p99-ms")
	b.ReportMetric(ms(1), "commit-max-ms")
}

// prefillSamples stores n samples per session, interleaved as chargers
// send them.
func prefillSamples(b *testing.B, s *Store, sess []charging.Session, n int) {
	b.Helper()
	first := sess[0].Seq
	for _, ss := range sess {
		first = min(first, ss.Seq)
	}
	q := fmt.Sprintf(`WITH RECURSIVE i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k + 1 < %d)
	INSERT INTO meter_samples (session_seq, charger_id, connector_id, transaction_id, ts, received_at, vals)
	SELECT %d + k %% %d, 'cp', 1, '1', k, k, '[{"measurand":"Energy.Active.Import.Register","unit":"kWh","value":1,"numeric":true,"raw":"1000","raw_unit":"Wh"}]' FROM i`,
		n*len(sess), first, len(sess))
	if err := s.write(context.Background(), func(w *writer) error { return w.execScript(q) }); err != nil {
		b.Fatalf("prefill: %v", err)
	}
}

// withCheckpointInterval spaces the checkpoints by d.
func withCheckpointInterval(d time.Duration) Option {
	return func(c *config) { c.checkpointInterval = d }
}

// walFrames runs a checkpoint of mode and returns the number of frames
// that were in the WAL.
func walFrames(b *testing.B, s *Store, mode string) int64 {
	b.Helper()
	var busy, log, done int64
	if err := s.rdb.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &log, &done); err != nil {
		b.Fatalf("checkpoint: %v", err)
	}
	return log
}

// BenchmarkStartStop starts and stops sessions from many concurrent
// chargers; one op is a start and its stop.
func BenchmarkStartStop(b *testing.B) {
	s := openBench(b)
	const chargers = 1000
	benchSessions(b, s, chargers)
	t0 := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	var next, seq atomic.Int64
	before, cpu0 := s.Stats(), cpuTime()
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
	reportWriter(b, s, before, cpu0)
}

// BenchmarkAppendValuesJSON encodes the five sampled values of a typical
// MeterValues the way every append stores them.
func BenchmarkAppendValuesJSON(b *testing.B) {
	vs := []charging.SampledValue{
		{Measurand: "Energy.Active.Import.Register", Location: "Outlet", Context: "Sample.Periodic", Unit: "kWh", Value: 12.345, Numeric: true, Raw: "12345", RawUnit: "Wh"},
		{Measurand: "Power.Active.Import", Location: "Outlet", Context: "Sample.Periodic", Unit: "kW", Value: 11, Numeric: true, Raw: "11000", RawUnit: "W"},
		{Measurand: "Current.Import", Location: "Outlet", Context: "Sample.Periodic", Unit: "A", Value: 16, Numeric: true, Raw: "16.0", RawUnit: "A"},
		{Measurand: "Voltage", Location: "Outlet", Context: "Sample.Periodic", Unit: "V", Value: 230, Numeric: true, Raw: "230", RawUnit: "V"},
		{Measurand: "SoC", Location: "EV", Context: "Sample.Periodic", Unit: "%", Value: 55, Numeric: true, Raw: "55", RawUnit: "Percent"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := appendValuesJSON(nil, vs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetConnectorStatus: a StatusNotification's store write, each a
// newer status of connector 1 of one charger's EVSE 1 (applied, with its
// event): the upsert, the read of the EVSE's connectors for its folded
// status, the event.
func BenchmarkSetConnectorStatus(b *testing.B) {
	s := openBench(b)
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

// BenchmarkSessionSamples reads the samples of one of 200 sessions that
// have 100 samples each, stored through WriteMeterValues (some of them
// in segments, some in the journal, as on a running server).
func BenchmarkSessionSamples(b *testing.B) {
	s := openBench(b)
	const sessions, each = 200, 100
	sess := benchSessions(b, s, sessions)
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	// Each session's charger sends its samples one after another; the
	// chargers at once.
	var wg sync.WaitGroup
	for i := range sess {
		ss := &sess[i]
		wg.Go(func() {
			for k := range each {
				m := charging.MeterValues{ChargerID: ss.ChargerID, ConnectorID: 1, TransactionID: &ss.TransactionID,
					Samples: []charging.MeterSample{meterSample(t0.Add(time.Duration(k)*time.Second), k)}, ReceivedAt: t0}
				if err := writeFolded(ctx, s, ss, m); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		got, err := s.SessionSamples(ctx, sess[i%sessions].ID)
		if err != nil || len(got) != each {
			b.Fatalf("SessionSamples: %d samples, %v; want %d", len(got), err, each)
		}
	}
}
