package postgres

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
	"github.com/chargebridge/chargebridge/internal/store/storetest"
)

// schemas gives each test one schema, so that a second open in the same
// test is a restart on the same database.
var schemas sync.Map // *testing.T → dsn

func openTest(t *testing.T) charging.Store {
	t.Helper()
	dsn, ok := schemas.Load(t)
	if !ok {
		dsn, _ = schemas.LoadOrStore(t, pgtest.Schema(t))
		t.Cleanup(func() { schemas.Delete(t) })
	}
	s, err := Open(t.Context(), dsn.(string))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	pgtest.URL(t)
	storetest.Run(t, openTest)
}

func TestMigrateTwice(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := t.Context()
	// Processes starting together: each migrates or finds it done.
	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	if err := stores[0].Migrate(ctx); err != nil {
		t.Fatalf("Migrate on a current schema: %v", err)
	}
	var n int
	if err := stores[0].pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	ms, _ := loadMigrations()
	if n != len(ms) {
		t.Errorf("schema_migrations: got %d rows; want %d", n, len(ms))
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dsn := pgtest.Schema(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.pool.Exec(t.Context(), `INSERT INTO schema_migrations VALUES (9999, '9999_future', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(t.Context(), dsn)
	if err == nil || !strings.Contains(err.Error(), "run a newer chargebridge") {
		t.Errorf("Open of a newer schema: got %v; want an error saying to run a newer chargebridge", err)
	}
}

func TestPoolSettings(t *testing.T) {
	dsn := pgtest.Schema(t)
	tests := []struct {
		name         string
		params       map[string]string
		wantTimeout  string
		wantMaxConns int32
	}{
		{"defaults", nil, "10s", DefaultMaxConns()},
		{"from-url", map[string]string{"statement_timeout": "2500", "pool_max_conns": "3"}, "2500ms", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := dsn
			for k, v := range tt.params {
				u = pgtest.WithParam(t, u, k, v)
			}
			s, err := Open(t.Context(), u)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			var timeout, app string
			if err := s.pool.QueryRow(t.Context(), `SELECT current_setting('statement_timeout'), current_setting('application_name')`).Scan(&timeout, &app); err != nil {
				t.Fatal(err)
			}
			if timeout != tt.wantTimeout || app != "chargebridge" {
				t.Errorf("settings: got statement_timeout %s, application_name %s; want %s, chargebridge", timeout, app, tt.wantTimeout)
			}
			if got := s.pool.Config().MaxConns; got != tt.wantMaxConns {
				t.Errorf("max conns: got %d; want %d", got, tt.wantMaxConns)
			}
		})
	}
}

func TestStatementTimeout(t *testing.T) {
	dsn := pgtest.WithParam(t, pgtest.Schema(t), "statement_timeout", "100")
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	start := time.Now()
	_, err = s.pool.Exec(t.Context(), `SELECT pg_sleep(5)`)
	if err == nil || !strings.Contains(err.Error(), "statement timeout") || time.Since(start) > 3*time.Second {
		t.Errorf("a 5s statement with statement_timeout=100ms: got %v after %v; want a statement timeout", err, time.Since(start))
	}
}

// TestMigrateTransactionIDsToText: migration 0010 turns the integer
// transaction ids of a database from before it into text, unique per
// charger. The old schema is made from the current one by undoing 0010.
func TestMigrateTransactionIDsToText(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := t.Context()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	for _, id := range []string{"cp-1", "cp-2"} {
		if err := s.CreateCharger(ctx, charging.Charger{ID: id, Registered: true, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	sess, _, err := s.StartSession(ctx, charging.StartSession{ID: "s-1", StartKey: "k-1", ChargerID: "cp-1", ConnectorID: 1,
		IDTag: "TAG", Status: charging.SessionActive, MeterStartWh: 1000, StartedAt: t0, ReceivedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	tx := sess.TransactionID
	m := charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &tx, ReceivedAt: t0,
		Samples: []charging.MeterSample{{Timestamp: t0, Values: []charging.SampledValue{{Measurand: charging.MeasurandEnergyImportRegister,
			Value: 2, Unit: "kWh", Numeric: true, Raw: "2"}}}}}
	folded, _ := charging.Fold(sess, m)
	if err := s.WriteMeterValues(ctx, charging.MeterWrite{MeterValues: m, Seq: sess.Seq, Version: sess.MeterVersion, Meter: folded.Meter()}); err != nil {
		t.Fatal(err)
	}
	s = reopenAfter(t, s, dsn,
		`ALTER TABLE sessions DROP CONSTRAINT sessions_charger_transaction`,
		`ALTER TABLE sessions ALTER COLUMN transaction_id TYPE bigint USING transaction_id::bigint`,
		`ALTER TABLE sessions ADD CONSTRAINT sessions_transaction_id_key UNIQUE (transaction_id)`,
		`ALTER TABLE meter_samples ALTER COLUMN transaction_id TYPE bigint USING transaction_id::bigint`,
		`DELETE FROM schema_migrations WHERE version = 10`,
	)
	defer s.Close()
	got, err := s.SessionByTransaction(ctx, "cp-1", tx)
	if err != nil || got.ID != "s-1" || got.LastRegisterWh != 2000 {
		t.Fatalf("session of transaction %s after migration: %+v, %v; want s-1 at 2000 Wh", tx, got, err)
	}
	if samples, err := s.SessionSamples(ctx, "s-1"); err != nil || len(samples) != 1 {
		t.Errorf("samples after migration: %d, %v; want 1", len(samples), err)
	}
	// Unique per charger now: cp-2 may have a transaction of the same id.
	other, _, err := s.StartSession(ctx, charging.StartSession{ID: "s-2", StartKey: "k-2", TransactionID: tx, ChargerID: "cp-2", ConnectorID: 1,
		IDTag: "TAG", Status: charging.SessionActive, StartedAt: t0, ReceivedAt: t0})
	if err != nil || other.TransactionID != tx {
		t.Errorf("cp-2's transaction %s: %+v, %v", tx, other, err)
	}
}

// TestMigrateEVSEConnectors: migration 0012 keys connectors by (charger,
// EVSE, connector within it): a database's connectors from before become
// connector 1 of their EVSE (0 of EVSE 0) with the availability and state
// their status word stood for, and its 1.6 sessions charged on connector
// 1 (a 2.0.1 one's connector is not known). The old schema is made from
// the current one by undoing 0012.
func TestMigrateEVSEConnectors(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := t.Context()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	if err := s.CreateCharger(ctx, charging.Charger{ID: "cp-1", Registered: true, CreatedAt: t0, Connectors: []charging.Connector{
		{ConnectorID: 0, Status: charging.StatusUnavailable, StatusAt: t0},
		{ConnectorID: 1, Status: charging.StatusPreparing, StatusAt: t0},
	}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []charging.StartSession{
		{ID: "s-16", StartKey: "cp-1|1|TAG|1", ChargerID: "cp-1", ConnectorID: 1, IDTag: "TAG", Status: charging.SessionActive, StartedAt: t0, ReceivedAt: t0},
		{ID: "s-201", StartKey: "ocpp2.0.1|TX-9", TransactionID: "TX-9", ChargerID: "cp-1", ConnectorID: 2, IDTag: "TAG", Status: charging.SessionActive, StartedAt: t0, ReceivedAt: t0},
	} {
		if _, _, err := s.StartSession(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	s = reopenAfter(t, s, dsn,
		`ALTER TABLE connectors DROP CONSTRAINT connectors_pkey`,
		`ALTER TABLE connectors DROP COLUMN evse_connector_id, DROP COLUMN availability, DROP COLUMN state`,
		`ALTER TABLE connectors ADD PRIMARY KEY (charger_id, connector_id)`,
		`ALTER TABLE sessions DROP COLUMN evse_connector_id`,
		`DELETE FROM schema_migrations WHERE version = 12`,
	)
	defer s.Close()
	c, err := s.GetCharger(ctx, "cp-1")
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
	for id, want := range map[string]int{"s-16": 1, "s-201": 0} {
		if got, err := s.GetSession(ctx, id); err != nil || got.EVSEConnectorID != want {
			t.Errorf("session %s after migration: connector %d, %v; want %d", id, got.EVSEConnectorID, err, want)
		}
	}
	// The new key takes a second connector of EVSE 1.
	k := charging.Connector{ChargerID: "cp-1", ConnectorID: 1, EVSEConnectorID: 2, Status: charging.StatusCharging, StatusAt: t0.Add(time.Minute)}
	if evse, applied, err := s.SetConnectorStatus(ctx, k); err != nil || !applied || evse.Status != charging.StatusCharging || len(evse.EVSEConnectors) != 2 {
		t.Errorf("status of EVSE 1 connector 2 after migration: %+v, %v, %v; want EVSE 1 Charging with 2 connectors", evse, applied, err)
	}
}

// TestMigrateSampleValuesBinary: after migration 0015 new samples keep
// their sampled values in vbin, and samples a database from before it holds
// as JSON in vals read back exactly, in time order with the new ones. The
// old schema is made from the current one by undoing 0015, its row by
// writing the JSON an older store wrote.
func TestMigrateSampleValuesBinary(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := t.Context()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	if err := s.CreateCharger(ctx, charging.Charger{ID: "cp-1", Registered: true, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	sess, _, err := s.StartSession(ctx, charging.StartSession{ID: "s-1", StartKey: "k-1", ChargerID: "cp-1", ConnectorID: 1,
		IDTag: "TAG", Status: charging.SessionActive, MeterStartWh: 1000, StartedAt: t0, ReceivedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	write := func(s *Store, sess *charging.Session, at time.Time, vs []charging.SampledValue) {
		t.Helper()
		tx := sess.TransactionID
		m := charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &tx, ReceivedAt: at,
			Samples: []charging.MeterSample{{Timestamp: at, Values: vs}}}
		folded, _ := charging.Fold(*sess, m)
		if err := s.WriteMeterValues(ctx, charging.MeterWrite{MeterValues: m, Seq: sess.Seq, Version: sess.MeterVersion, Meter: folded.Meter()}); err != nil {
			t.Fatal(err)
		}
		sess.SetMeter(folded.Meter())
		sess.MeterVersion++
	}
	old := []charging.SampledValue{
		{Measurand: charging.MeasurandEnergyImportRegister, Context: "Sample.Periodic", Unit: "kWh", Value: 2, Numeric: true, Raw: "2000", RawUnit: "Wh"},
		{Measurand: "x-vendor", Value: math.Copysign(0, -1), Numeric: true, Raw: "-0", Signed: true, Flagged: "made-up"},
	}
	write(s, &sess, t0.Add(time.Minute), old)
	j, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	s = reopenAfter(t, s, dsn,
		`UPDATE meter_samples SET vals = '`+string(j)+`'`,
		`ALTER TABLE meter_samples DROP COLUMN vbin, ALTER COLUMN vals SET NOT NULL`,
		`DELETE FROM schema_migrations WHERE version = 15`,
	)
	defer s.Close()
	cur := []charging.SampledValue{{Measurand: charging.MeasurandEnergyImportRegister, Unit: "Wh", Value: 3000, Numeric: true, Raw: "3000"}}
	write(s, &sess, t0, cur) // earlier than the old sample: read first
	var stored []string
	rows, err := s.pool.Query(ctx, `SELECT (vals IS NOT NULL)::text || ' ' || (vbin IS NOT NULL)::text FROM meter_samples ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	if stored, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if want := []string{"true false", "false true"}; !slices.Equal(stored, want) {
		t.Errorf("vals, vbin set: got %q; want %q (the old row's JSON, the new row's binary)", stored, want)
	}
	got, err := s.SessionSamples(ctx, "s-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []charging.MeterSample{{Timestamp: t0, Values: cur}, {Timestamp: t0.Add(time.Minute), Values: old}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("samples after migration (-want +got):\n%s", d)
	}
	if !math.Signbit(got[1].Values[1].Value) {
		t.Errorf("old sample's -0 read back as %v", got[1].Values[1].Value)
	}
}

// reopenAfter runs stmts on s (turning its schema back into an older
// one), closes it and opens dsn again, which migrates it forward.
func reopenAfter(t *testing.T, s *Store, dsn string, stmts ...string) *Store {
	t.Helper()
	ctx := t.Context()
	for _, q := range stmts {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open after the old schema: %v", err)
	}
	return s
}
