package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/storetest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ignoreBookkeeping leaves a session's Seq and MeterVersion out of a
// comparison: storetest's meter tests check them.
var ignoreBookkeeping = cmpopts.IgnoreFields(charging.Session{}, "Seq", "MeterVersion")

func openFull(t *testing.T) charging.FullStore {
	t.Helper()
	return openTest(t).(*Store)
}

func TestFullStore(t *testing.T) {
	storetest.RunFull(t, openFull)
}

func reserved(id string, connector int, rid int64, tag string) charging.Session {
	exp := t0.Add(15 * time.Minute)
	return charging.Session{ID: id, ChargerID: "cp-1", ConnectorID: connector, IDTag: tag, Status: charging.SessionReserved,
		ReservationID: &rid, StartedAt: t0, ExpiresAt: &exp, LastUpdated: t0}
}

// TestSessionsWithoutTransaction stores many sessions without a transaction
// (NULL transaction ids do not collide), reads them back after a restart
// with transaction id 0 and their expiry, and checks that transaction id 0
// finds none of them.
func TestSessionsWithoutTransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cb.db")
	s := openAt(t, path)
	ctx := t.Context()
	var want []charging.Session
	for i := range 5 {
		sess := reserved(fmt.Sprintf("res-%d", i), i+1, int64(100+i), "TAG")
		if i%2 == 1 {
			sess.Status, sess.ReservationID = charging.SessionPending, nil
		}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("create %s: %v", sess.ID, err)
		}
		want = append(want, sess)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	for _, w := range want {
		got, err := s.GetSession(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(w, got, ignoreBookkeeping); d != "" {
			t.Errorf("session %s after a restart (-want +got):\n%s", w.ID, d)
		}
	}
	if _, err := s.SessionByTransaction(ctx, "cp-1", ""); !errors.Is(err, charging.ErrNotFound) {
		t.Errorf("session of no transaction: got %v; want ErrNotFound", err)
	}
	var nulls int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE transaction_id IS NULL`).Scan(&nulls); err != nil || nulls != 5 {
		t.Errorf("sessions with a NULL transaction id: got %d, %v; want 5", nulls, err)
	}
}

func TestCreateSessionInvalid(t *testing.T) {
	s := openTemp(t)
	bad := []struct {
		name string
		sess charging.Session
	}{
		{"no-id", charging.Session{ChargerID: "cp-1", Status: charging.SessionPending}},
		{"with-transaction", charging.Session{ID: "x", ChargerID: "cp-1", TransactionID: "4", Status: charging.SessionPending}},
		{"unknown-status", charging.Session{ID: "y", ChargerID: "cp-1", Status: "waiting"}},
		{"active", charging.Session{ID: "z", ChargerID: "cp-1", Status: charging.SessionActive}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.CreateSession(t.Context(), tt.sess); !errors.Is(err, charging.ErrInvalidInput) {
				t.Errorf("got %v; want ErrInvalidInput", err)
			}
		})
	}
	if err := s.CreateSession(t.Context(), reserved("dup", 1, 1, "T")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(t.Context(), reserved("dup", 2, 2, "T")); !errors.Is(err, charging.ErrExists) {
		t.Errorf("taken id: got %v; want ErrExists", err)
	}
}

// TestTakeOver covers what StartSession does with reserved and pending
// sessions beyond the contract: a retry of the start that took a session
// over returns it; a pending session of another tag on the connector is
// closed; a reservation for connector 0 is taken over by its id.
func TestTakeOver(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	start := func(id string, connector int, tag string, rid *int64, at time.Time) charging.StartSession {
		return charging.StartSession{ID: id, StartKey: "key-" + id, ChargerID: "cp-1", ConnectorID: connector, IDTag: tag,
			Status: charging.SessionActive, MeterStartWh: 1000, ReservationID: rid, StartedAt: at, ReceivedAt: at.Add(time.Second)}
	}

	t.Run("retry-returns-taken-over", func(t *testing.T) {
		if err := s.CreateSession(ctx, reserved("r-1", 1, 1, "A")); err != nil {
			t.Fatal(err)
		}
		rid := int64(1)
		req := start("n-1", 1, "A", &rid, t0.Add(time.Minute))
		first, created, err := s.StartSession(ctx, req)
		if err != nil || !created || first.ID != "r-1" {
			t.Fatalf("start: got %s created %v, %v; want r-1 created", first.ID, created, err)
		}
		again, created, err := s.StartSession(ctx, req)
		if err != nil || created {
			t.Fatalf("retry: created %v, %v; want the stored session", created, err)
		}
		if d := cmp.Diff(first, again, ignoreBookkeeping); d != "" {
			t.Errorf("retry (-first +retry):\n%s", d)
		}
		if first.ExpiresAt != nil || first.LastRegisterWh != 1000 || !first.LastUpdated.Equal(req.ReceivedAt) || *first.ReservationID != 1 {
			t.Errorf("taken over: got %+v; want no expiry, register at meter start, last updated at receipt", first)
		}
		if _, err := s.GetSession(ctx, "n-1"); !errors.Is(err, charging.ErrNotFound) {
			t.Errorf("the start's own id: got %v; want ErrNotFound (the reservation's id is kept)", err)
		}
	})

	// A pending remote start of another tag on the connector is not
	// superseded (the state machine supersedes active and stopping
	// sessions): it waits and expires as a remote start that never came.
	t.Run("pending-of-other-tag-left-to-expire", func(t *testing.T) {
		exp := t0.Add(time.Hour)
		pend := charging.Session{ID: "p-2", ChargerID: "cp-1", ConnectorID: 2, IDTag: "B", Status: charging.SessionPending,
			StartedAt: t0, ExpiresAt: &exp, LastUpdated: t0}
		mine := pend
		mine.ID, mine.IDTag = "p-2c", "C"
		for _, p := range []charging.Session{pend, mine} {
			if err := s.CreateSession(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		got, _, err := s.StartSession(ctx, start("n-2", 2, "C", nil, t0.Add(2*time.Minute)))
		if err != nil || got.ID != "p-2c" {
			t.Fatalf("start: got %s, %v; want p-2c", got.ID, err)
		}
		other, err := s.GetSession(ctx, "p-2")
		if err != nil || other.Status != charging.SessionPending {
			t.Errorf("pending session of another tag: got %s, %v; want pending", other.Status, err)
		}
	})

	t.Run("reservation-for-connector-0", func(t *testing.T) {
		if err := s.CreateSession(ctx, reserved("r-0", 0, 30, "D")); err != nil {
			t.Fatal(err)
		}
		rid := int64(30)
		got, _, err := s.StartSession(ctx, start("n-3", 3, "D", &rid, t0.Add(3*time.Minute)))
		if err != nil || got.ID != "r-0" || got.ConnectorID != 3 {
			t.Fatalf("start: got %s on %d, %v; want r-0 on connector 3", got.ID, got.ConnectorID, err)
		}
	})

	t.Run("ended-not-taken-over", func(t *testing.T) {
		if err := s.CreateSession(ctx, reserved("r-4", 4, 40, "E")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateSessionStatus(ctx, "r-4", []charging.SessionStatus{charging.SessionReserved}, charging.SessionCompleted, t0, "ReservationExpired"); err != nil {
			t.Fatal(err)
		}
		rid := int64(40)
		got, _, err := s.StartSession(ctx, start("n-4", 4, "E", &rid, t0.Add(4*time.Minute)))
		if err != nil || got.ID != "n-4" {
			t.Fatalf("start: got %s, %v; want a new session n-4", got.ID, err)
		}
	})
}

func TestUpdateSessionStatusNotFinal(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	sess, _, err := s.StartSession(ctx, charging.StartSession{ID: "a", StartKey: "k", ChargerID: "cp-1", ConnectorID: 1, IDTag: "T",
		Status: charging.SessionActive, StartedAt: t0, ReceivedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	got, err := s.UpdateSessionStatus(ctx, "a", []charging.SessionStatus{charging.SessionActive}, charging.SessionStopping, at, "ignored")
	if err != nil {
		t.Fatal(err)
	}
	want := sess
	want.Status, want.LastUpdated = charging.SessionStopping, at
	stored, err := s.GetSession(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]charging.Session{"returned": got, "stored": stored} {
		if d := cmp.Diff(want, g, ignoreBookkeeping); d != "" {
			t.Errorf("%s session (-want +got):\n%s", name, d)
		}
	}
	if _, err := s.UpdateSessionStatus(ctx, "a", nil, charging.SessionCompleted, at, ""); !errors.Is(err, charging.ErrConflict) {
		t.Errorf("update from no status: got %v; want ErrConflict", err)
	}
}

func TestDocsEdges(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.PutDoc(ctx, charging.Doc{Kind: "k", Body: []byte(`{}`)}); !errors.Is(err, charging.ErrInvalidInput) {
		t.Errorf("doc without id: got %v; want ErrInvalidInput", err)
	}
	// A zero Updated is stored as NULL: listed first, outside any window.
	for _, d := range []charging.Doc{{Kind: "k", ID: "b", Body: []byte(`1`), Updated: t0}, {Kind: "k", ID: "a"}} {
		if err := s.PutDoc(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetDoc(ctx, "k", "a")
	if err != nil || got.Body != nil || !got.Updated.IsZero() {
		t.Errorf("doc with no body and no time: got %+v, %v", got, err)
	}
	all, total, err := s.ListDocs(ctx, charging.DocQuery{Kind: "k"})
	if err != nil || total != 2 || len(all) != 2 || all[0].ID != "a" {
		t.Errorf("list without limit: got %d docs of %d, %v; want a then b", len(all), total, err)
	}
	window, total, err := s.ListDocs(ctx, charging.DocQuery{Kind: "k", From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if err != nil || total != 1 || len(window) != 1 || window[0].ID != "b" {
		t.Errorf("list in a window: got %d docs of %d, %v; want b", len(window), total, err)
	}
	if _, _, err := s.ListDocs(ctx, charging.DocQuery{Kind: "k", From: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}); !errors.Is(err, charging.ErrInvalidInput) {
		t.Errorf("time out of range: got %v; want ErrInvalidInput", err)
	}
}

// TestLifecyclePlans checks that the take-over lookup and the document
// lists use their indexes.
func TestLifecyclePlans(t *testing.T) {
	s := openTemp(t)
	ownerPage, _, ownerArgs, err := sqlListDocs(charging.DocQuery{Kind: "command", Owner: "cp", Newest: true})
	if err != nil {
		t.Fatal(err)
	}
	windowPage, windowCount, windowArgs, err := sqlListDocs(charging.DocQuery{Kind: "k", From: t0, To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	afterQ := charging.DocQuery{Kind: "k", After: &charging.DocPosition{Updated: t0, ID: "x"}}
	afterPage, _, afterArgs, err := sqlListDocs(afterQ)
	if err != nil {
		t.Fatal(err)
	}
	if afterArgs, err = pageArgs(afterQ, afterArgs, 10); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query string
		args        []any
		want        string
		// sorts says the plan may sort: the few waiting sessions of a
		// connector, not a page of documents.
		sorts bool
	}{
		{"waiting-for", sqlWaitingFor, []any{"cp", 1, 7, "T", ""}, "USING INDEX sessions_waiting", true},
		{"docs-owner", ownerPage, append(ownerArgs, 10, 0), "USING INDEX docs_owner", false},
		{"docs-window", windowPage, append(windowArgs, 10, 0), "USING INDEX docs_updated", false},
		{"docs-window-count", windowCount, windowArgs, "USING COVERING INDEX docs_updated", false},
		// The keyset cursor seeks into the index: a deep page costs what
		// the first does.
		{"docs-after", afterPage, afterArgs, "USING INDEX docs_updated (kind=? AND (updated,id)>(?,?))", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := s.rdb.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			p := strings.Join(plan, "; ")
			if !strings.Contains(p, tt.want) || !tt.sorts && strings.Contains(p, "TEMP B-TREE") {
				t.Errorf("plan: %s; want %q (and no sort unless allowed)", p, tt.want)
			}
		})
	}
}

// openAtMigration makes a database at path with the migrations up to
// version upto applied and recorded, as an older chargebridge left it.
func openAtMigration(t *testing.T, path string, upto int) *sql.DB {
	t.Helper()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`}
	for _, m := range ms {
		if m.Version <= upto {
			stmts = append(stmts, m.SQL, fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, '%s', 0)`, m.Version, m.Name))
		}
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return db
}

// TestMigrateFrom0002 opens a database at migration 0002 with sessions,
// meter rows and samples, and checks that 0003 keeps them, lets sessions
// without a transaction in, keeps the foreign keys sound and continues the
// session sequence.
func TestMigrateFrom0002(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db := openAtMigration(t, path, 2)
	for _, q := range []string{
		`INSERT INTO sessions (seq, id, start_key, charger_id, connector_id, transaction_id, id_tag, status, meter_start_wh, started_at)
			VALUES (1, 's-1', 'k1', 'cp-1', 1, 7, 'TAG', 'active', 1000, 1), (5, 's-5', 'k5', 'cp-1', 2, 8, 'TAG', 'active', 0, 2),
			(9, 'gone', 'k9', 'cp-1', 3, 9, 'TAG', 'active', 0, 3)`,
		`DELETE FROM sessions WHERE seq = 9`,
		`INSERT INTO session_meter (seq, last_register_wh, max_power_kw, last_updated) VALUES (1, 2500, 11, 9), (5, 0, 0, 10)`,
		`INSERT INTO meter_samples (session_seq, charger_id, connector_id, transaction_id, ts, received_at, vals)
			VALUES (1, 'cp-1', 1, 7, 3, 4, '[{"measurand":"SoC","value":80,"numeric":true,"raw":"80"}]')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := openAt(t, path)
	ctx := t.Context()
	got, err := s.SessionByTransaction(ctx, "cp-1", "7")
	if err != nil {
		t.Fatal(err)
	}
	want := charging.Session{ID: "s-1", ChargerID: "cp-1", ConnectorID: 1, EVSEConnectorID: 1, TransactionID: "7", IDTag: "TAG", Status: charging.SessionActive,
		MeterStartWh: 1000, LastRegisterWh: 2500, MaxPowerKW: 11, StartedAt: time.Unix(0, 1), LastUpdated: time.Unix(0, 9), Seq: 1}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("session after migration (-want +got):\n%s", d)
	}
	if samples, err := s.SessionSamples(ctx, "s-1"); err != nil || len(samples) != 1 {
		t.Errorf("samples after migration: got %d, %v; want 1", len(samples), err)
	}
	for _, id := range []string{"res-1", "res-2"} {
		if err := s.CreateSession(ctx, reserved(id, 1, 1, "T")); err != nil {
			t.Fatalf("create %s after migration: %v", id, err)
		}
	}
	var seq int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT seq FROM sessions WHERE id = 'res-1'`).Scan(&seq); err != nil || seq != 10 {
		t.Errorf("seq of the first new session: got %d, %v; want 10 (AUTOINCREMENT continues past the deleted 9)", seq, err)
	}
	rows, err := s.rdb.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("foreign_key_check after migration found violations")
	}
	var fks int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_list('session_meter') WHERE "table" = 'sessions'`).Scan(&fks); err != nil || fks != 1 {
		t.Errorf("session_meter's foreign key to sessions: got %d, %v; want 1", fks, err)
	}
}
