package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// modes are the durability modes, for tests of the writer's life cycle.
var modes = []struct {
	name string
	opts []Option
}{
	{"full", nil},
	{"normal", []Option{WithSynchronousNormal()}},
}

func openAt(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openTemp(t *testing.T, opts ...Option) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "cb.db"), opts...)
}

// blockWriter occupies the writer goroutine until release is called (at
// the latest when the test ends), so that operations queue up behind it and
// share the next transaction.
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.write(context.Background(), func(w *writer) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(unblock)
			if err := <-done; err != nil {
				t.Errorf("blocking op: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

func TestGroupCommit(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.CreateCharger(ctx, charging.Charger{ID: "cp-1", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 200, 10
	before := s.Stats()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m := charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, ReceivedAt: t0,
					Samples: []charging.MeterSample{{Timestamp: t0.Add(time.Duration(w*each+i) * time.Second),
						Values: []charging.SampledValue{{Measurand: charging.MeasurandPowerImport, Value: 1, Numeric: true, Raw: "1"}}}}}
				if err := s.WriteMeterValues(ctx, charging.MeterWrite{MeterValues: m}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	after := s.Stats()
	ops, commits := after.Ops-before.Ops, after.Commits-before.Commits
	if ops != writers*each {
		t.Errorf("got %d ops; want %d", ops, writers*each)
	}
	if commits == 0 || commits*10 > ops {
		t.Errorf("%d concurrent writers: got %d commits for %d ops; want at most one commit per 10 ops", writers, commits, ops)
	}
	t.Logf("%d ops in %d commits, largest batch %d", ops, commits, after.MaxBatch)
}

// TestFailingOpFailsAlone puts a failing StartSession (a session id that is
// taken, found only after it closed the open session and bumped the
// transaction sequence) into one transaction with good operations.
func TestFailingOpFailsAlone(t *testing.T) {
	// No time limit on a batch, so the operations queued behind the blocker
	// are sure to share its transaction.
	s := openTemp(t, WithMaxBatch(256, time.Hour))
	ctx := t.Context()
	if err := s.CreateCharger(ctx, charging.Charger{ID: "cp-1", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	start := func(id, key string, connector int) charging.StartSession {
		return charging.StartSession{ID: id, StartKey: key, ChargerID: "cp-1", ConnectorID: connector, IDTag: "T",
			Status: charging.SessionActive, StartedAt: t0, ReceivedAt: t0.Add(time.Hour)}
	}
	open, _, err := s.StartSession(ctx, start("s-open", "k-open", 1))
	if err != nil {
		t.Fatal(err)
	}

	release := blockWriter(t, s)
	before := s.Stats()
	errs := make(chan error, 3)
	go func() { _, _, err := s.StartSession(ctx, start("s-open", "k-dup", 1)); errs <- err }()
	go func() { errs <- s.TouchCharger(ctx, "cp-1", t0.Add(time.Minute)) }()
	go func() { _, _, err := s.StartSession(ctx, start("s-good", "k-good", 2)); errs <- err }()
	waitQueued(t, s, 3)
	release()
	var failed int
	for range 3 {
		if err := <-errs; err != nil {
			failed++
			t.Logf("failed as it should: %v", err)
		}
	}
	if failed != 1 {
		t.Errorf("got %d failed operations; want 1", failed)
	}
	// The writer takes what is waiting when the blocker returns into the
	// blocker's transaction.
	if got := s.Stats().Commits - before.Commits; got != 1 {
		t.Errorf("got %d commits; want 1 shared by all four operations", got)
	}
	got, err := s.GetSession(ctx, open.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != charging.SessionActive || got.EndedAt != nil {
		t.Errorf("the failed start's close of the open session was not rolled back: got %s ended %v", got.Status, got.EndedAt)
	}
	good, err := s.GetSession(ctx, "s-good")
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.FormatInt(mustAtoi(t, open.TransactionID)+1, 10); good.TransactionID != want {
		t.Errorf("transaction id after a failed start: got %s; want %s (the failed start's id rolled back)", good.TransactionID, want)
	}
	c, err := s.GetCharger(ctx, "cp-1")
	if err != nil {
		t.Fatal(err)
	}
	if c.LastSeenAt == nil || !c.LastSeenAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("touch in the same transaction: got last seen %v; want %v", c.LastSeenAt, t0.Add(time.Minute))
	}
}

func TestCancelWhileQueued(t *testing.T) {
	s := openTemp(t)
	release := blockWriter(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := s.CreateCharger(ctx, charging.Charger{ID: "cp-late", CreatedAt: t0})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CreateCharger while the writer is busy past the deadline: got %v; want %v", err, context.DeadlineExceeded)
	}
	release()
	if _, err := s.GetCharger(t.Context(), "cp-late"); !errors.Is(err, charging.ErrNotFound) {
		t.Errorf("charger of a cancelled create: got %v; want ErrNotFound", err)
	}
	cancelled, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if err := s.TouchCharger(cancelled, "cp-1", t0); !errors.Is(err, context.Canceled) {
		t.Errorf("TouchCharger with a cancelled context: got %v; want %v", err, context.Canceled)
	}
}

// TestCloseDrains closes the store while writers are busy: each write
// either succeeded, and is there after a reopen, or got ErrClosed.
func TestCloseDrains(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testCloseDrains(t, m.opts...) })
	}
}

func testCloseDrains(t *testing.T, opts ...Option) {
	path := filepath.Join(t.TempDir(), "cb.db")
	s, err := Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok []string
	)
	for w := range 50 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("cp-%d-%d", w, i)
				err := s.CreateCharger(context.Background(), charging.Charger{ID: id, CreatedAt: t0})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("CreateCharger: %v", err)
					return
				}
				mu.Lock()
				ok = append(ok, id)
				mu.Unlock()
			}
		})
	}
	// Close while the writers are busy: once some of their writes landed.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(ok)
		mu.Unlock()
		if n >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes in 30 s", n)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if err := s.TouchCharger(t.Context(), "cp-0-0", t0); !errors.Is(err, ErrClosed) {
		t.Errorf("write after Close: got %v; want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s = openAt(t, path, opts...)
	list, err := s.ListChargers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(ok) || len(ok) == 0 {
		t.Fatalf("after reopen: got %d chargers; want the %d acknowledged", len(list), len(ok))
	}
	have := map[string]bool{}
	for _, c := range list {
		have[c.ID] = true
	}
	for _, id := range ok {
		if !have[id] {
			t.Errorf("acknowledged charger %s lost", id)
		}
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testNoGoroutineLeak(t, m.opts...) })
	}
}

func testNoGoroutineLeak(t *testing.T, opts ...Option) {
	before := runtime.NumGoroutine()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "cb.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			id := fmt.Sprintf("cp-%d", i)
			if err := s.CreateCharger(ctx, charging.Charger{ID: id, CreatedAt: t0}); err != nil {
				t.Error(err)
			}
			if _, err := s.GetCharger(ctx, id); err != nil {
				t.Error(err)
			}
			if _, _, err := s.ListSessions(ctx, charging.SessionFilter{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var after int
	for range 200 {
		if after = runtime.NumGoroutine(); after <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	t.Errorf("goroutines: got %d after Close; want %d as before Open\n%s", after, before, buf[:runtime.Stack(buf, true)])
}

func TestPragmas(t *testing.T) {
	tests := []struct {
		name        string
		opts        []Option
		synchronous int64
	}{
		{"default-full", nil, 2},
		{"normal", []Option{WithSynchronousNormal()}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, tt.opts...)
			want := map[string]int64{"synchronous": tt.synchronous, "foreign_keys": 1, "wal_autocheckpoint": 0, "page_size": 8192, "temp_store": 2}
			got := map[string]int64{}
			err := s.write(t.Context(), func(w *writer) error {
				for p := range want {
					v, err := w.queryInts("PRAGMA " + p)
					if err != nil || len(v) != 1 {
						return fmt.Errorf("PRAGMA %s: got %v, %v", p, v, err)
					}
					got[p] = v[0]
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("writer pragmas (-want +got):\n%s", d)
			}
			var mode string
			if err := s.rdb.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal mode: got %q, %v; want wal", mode, err)
			}
		})
	}
}

func TestMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cb.db")
	s := openAt(t, path)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate on a current schema: %v", err)
	}
	var versions []int64
	if err := s.write(t.Context(), func(w *writer) (err error) {
		versions, err = w.queryInts("SELECT version FROM schema_migrations ORDER BY version")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for _, m := range ms {
		want = append(want, int64(m.Version))
	}
	if d := cmp.Diff(want, versions); d != "" {
		t.Errorf("schema_migrations (-want +got):\n%s", d)
	}

	// A database from a newer program is refused, with a message that says so.
	if err := s.write(t.Context(), func(w *writer) error {
		return w.execScript("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future', 0)")
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a database with a newer schema: got %v; want an error saying it is newer", err)
	}
}

func TestOpenBadPath(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "a?b.db")} {
		if s, err := Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q): got no error", p)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.CreateCharger(ctx, charging.Charger{ID: "cp-1", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	tx := "1"
	tests := []struct {
		name string
		err  error
	}{
		{"time-out-of-range", s.TouchCharger(ctx, "cp-1", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))},
		{"nan-value", func() error {
			return s.WriteMeterValues(ctx, charging.MeterWrite{MeterValues: charging.MeterValues{ChargerID: "cp-1", TransactionID: &tx, ReceivedAt: t0,
				Samples: []charging.MeterSample{{Timestamp: t0, Values: []charging.SampledValue{{Value: math.NaN(), Numeric: true}}}}}})
		}()},
		{"unknown-status", func() error {
			_, _, err := s.StartSession(ctx, charging.StartSession{ID: "s", ChargerID: "cp-1", ConnectorID: 1, Status: "running", StartedAt: t0, ReceivedAt: t0})
			return err
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, charging.ErrInvalidInput) {
				t.Errorf("got %v; want ErrInvalidInput", tt.err)
			}
		})
	}
}

// TestValuesJSON checks the hand-written encoder against encoding/json.
func TestValuesJSON(t *testing.T) {
	vs := []charging.SampledValue{
		{},
		{Measurand: "Energy.Active.Import.Register", Phase: "L1-N", Location: "Outlet", Context: "Sample.Periodic",
			Unit: "kWh", Value: 12.345, Numeric: true, Raw: "12345", RawUnit: "Wh", Signed: true},
		{Measurand: "x", Value: -1e-300, Raw: "\"quoted\" \\ \n\r\t \x00\x1f \x7f ünï <&> \u2028 \xff\xfe"},
		{Value: math.MaxFloat64}, {Value: math.SmallestNonzeroFloat64}, {Value: math.Copysign(0, -1)}, {Value: 1e21}, {Value: 123456789},
	}
	for i, v := range vs {
		want, err := json.Marshal([]charging.SampledValue{v})
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendValuesJSON(nil, []charging.SampledValue{v})
		if err != nil {
			t.Fatal(err)
		}
		var a, b []charging.SampledValue
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("value %d: our encoding %s does not decode: %v", i, got, err)
		}
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(b, a); d != "" {
			t.Errorf("value %d: decoded from ours %s vs encoding/json %s (-json +ours):\n%s", i, got, want, d)
		}
		if math.Signbit(a[0].Value) != math.Signbit(v.Value) {
			t.Errorf("value %d: sign of %v lost", i, v.Value)
		}
	}
}

func FuzzValuesJSON(f *testing.F) {
	f.Add("Energy.Active.Import.Register", "L1", "Outlet", "Sample.Periodic", "kWh", 1.5, true, "1500", "Wh", false)
	f.Add("", "", "", "", "", 0.0, false, "\x00\"\\\xff", "", true)
	f.Fuzz(func(t *testing.T, m, ph, loc, ctx, unit string, v float64, num bool, raw, rawUnit string, signed bool) {
		in := []charging.SampledValue{{Measurand: m, Phase: ph, Location: loc, Context: ctx, Unit: unit, Value: v,
			Numeric: num, Raw: raw, RawUnit: rawUnit, Signed: signed}}
		got, err := appendValuesJSON(nil, in)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if !errors.Is(err, charging.ErrInvalidInput) {
				t.Fatalf("non-finite value: got %v; want ErrInvalidInput", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := decodeValues(got)
		if err != nil {
			t.Fatalf("decode %s: %v", got, err)
		}
		want, _ := json.Marshal(in) // the reference: invalid UTF-8 becomes U+FFFD in both
		var ref []charging.SampledValue
		if err := json.Unmarshal(want, &ref); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(ref, out); d != "" {
			t.Errorf("round trip (-want +got):\n%s", d)
		}
	})
}

// TestMigrateFrom0001 opens a database made by migration 0001 alone, with a
// session in it, and checks that the later migrations keep its data.
func TestMigrateFrom0001(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`,
		ms[0].SQL,
		`INSERT INTO schema_migrations VALUES (1, '0001_init', 0)`,
		`INSERT INTO chargers (id, registered) VALUES ('cp-1', 1)`,
		`INSERT INTO connectors (charger_id, connector_id, status, status_at) VALUES ('cp-1', 0, 'Unavailable', 3), ('cp-1', 1, 'Preparing', 4)`,
		`INSERT INTO sessions (id, start_key, charger_id, connector_id, transaction_id, id_tag, status, meter_start_wh,
			last_register_wh, max_power_kw, last_power_kw, last_power_at, soc, soc_at, started_at, last_updated)
			VALUES ('s-1', 'k', 'cp-1', 1, 7, 'TAG', 'active', 1000, 2500.5, 11, 7.5, 5, 80, 5, 1, 9)`,
		`INSERT INTO meter_samples (session_seq, charger_id, connector_id, transaction_id, ts, received_at, vals)
			VALUES (1, 'cp-1', 1, 7, 3, 4, '[{"measurand":"SoC","value":80,"numeric":true,"raw":"80"}]')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := openAt(t, path)
	got, err := s.SessionByTransaction(t.Context(), "cp-1", "7")
	if err != nil {
		t.Fatal(err)
	}
	// 0011: a 1.6 session charged on connector 1 of its EVSE.
	want := charging.Session{ID: "s-1", ChargerID: "cp-1", ConnectorID: 1, EVSEConnectorID: 1, TransactionID: "7", IDTag: "TAG", Status: charging.SessionActive,
		MeterStartWh: 1000, LastRegisterWh: 2500.5, MaxPowerKW: 11, LastPowerKW: ptr(7.5), SoC: ptr(80.0),
		LastPowerAt: ptr(time.Unix(0, 5)), SoCAt: ptr(time.Unix(0, 5)), StartedAt: time.Unix(0, 1), LastUpdated: time.Unix(0, 9), Seq: 1}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("session after migration (-want +got):\n%s", d)
	}
	// 0011: a connector is connector 1 of its EVSE (0 of EVSE 0), its
	// availability and state what its status word stood for.
	c, err := s.GetCharger(t.Context(), "cp-1")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, e := range c.Connectors {
		for _, k := range e.EVSEConnectors {
			rows = append(rows, fmt.Sprintf("%d/%d %s %s %s", k.ConnectorID, k.EVSEConnectorID, k.Availability, k.State, k.Status))
		}
	}
	if want := []string{"0/0 Inoperative Available Unavailable", "1/1 Operative Occupied Preparing"}; !slices.Equal(rows, want) {
		t.Errorf("connectors after migration: got %q; want %q", rows, want)
	}
	samples, err := s.SessionSamples(t.Context(), "s-1")
	if err != nil || len(samples) != 1 || samples[0].Values[0].Value != 80 {
		t.Errorf("samples after migration: got %+v, %v", samples, err)
	}
	// The new schema takes writes: the next start gets a new transaction id.
	sess, _, err := s.StartSession(t.Context(), charging.StartSession{ID: "s-2", StartKey: "k2", ChargerID: "cp-1", ConnectorID: 2,
		IDTag: "TAG", Status: charging.SessionActive, StartedAt: t0, ReceivedAt: t0})
	if err != nil || sess.TransactionID != "1" {
		// tx_sequence was 0 in the hand-made database; ids continue from it.
		t.Errorf("start after migration: got tx %s, %v; want 1", sess.TransactionID, err)
	}
	// The transaction id became text, unique per charger: a sample of the
	// old session names it as text too.
	var typ string
	if err := s.rdb.QueryRowContext(t.Context(), `SELECT typeof(transaction_id) FROM meter_samples LIMIT 1`).Scan(&typ); err != nil || typ != "text" {
		t.Errorf("meter_samples.transaction_id after migration: got %s, %v; want text", typ, err)
	}
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("transaction id %q: %v", s, err)
	}
	return n
}

func ptr[T any](v T) *T { return &v }

// WithCommitObserver hears every write transaction, not reads.
func TestCommitObserver(t *testing.T) {
	var n atomic.Int64
	s := openTemp(t, WithCommitObserver(func(d time.Duration) {
		if d <= 0 {
			t.Errorf("commit observed with duration %v", d)
		}
		n.Add(1)
	}))
	ctx := context.Background()
	n.Store(0)
	if err := s.CreateCharger(ctx, charging.Charger{ID: "CP-OBS", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("after one write: %d commits observed; want 1", got)
	}
	if _, err := s.ListChargers(ctx); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("a read was observed as a commit: %d; want 1", got)
	}
}
