package ocpi_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the bulk set-up writes the file directly

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// BenchmarkSessionsPage times the OCPI Sessions module's GET (the CPO's
// Sessions Sender interface, paged, as an eMSP pulls it) with 1 000 000
// sessions stored in a SQLite file: 1 000 000 OCPI Session documents and
// 1 000 000 finished sessions in the core's tables, next to the one real
// session they are copied from (issue 16: the reads must not get slower
// while the meter write path changes). The real session runs through OCPP
// and the CPO like any other; the copies are made with INSERT … SELECT,
// the server stopped, to keep the set-up short.
//
//	go test -run '^$' -bench 'SessionsPage$' -benchtime 10x ./internal/ocpi/
//
// With -short the copies are 1 000, to check the benchmark quickly.
func BenchmarkSessionsPage(b *testing.B) {
	db := filepath.Join(b.TempDir(), "chargebridge.db")
	sessionsPage(b, func() *cbtest.Server { return startCPOWithDB(b, db) },
		func(id string, n int) { bulkCopySessions(b, db, id, n) })
}

// BenchmarkSessionsPagePostgres is BenchmarkSessionsPage on PostgreSQL (a
// schema of its own in CHARGEBRIDGE_TEST_POSTGRES's database).
//
//	go test -run '^$' -bench SessionsPagePostgres -benchtime 10x ./internal/ocpi/
func BenchmarkSessionsPagePostgres(b *testing.B) {
	dsn := pgtest.Schema(b)
	db := filepath.Join(b.TempDir(), "unused.db")
	onPostgres := cbtest.Configure(func(c *server.Config) { c.DB = dsn })
	sessionsPage(b, func() *cbtest.Server { return startCPOWithDB(b, db, onPostgres) },
		func(id string, n int) { bulkCopySessionsPostgres(b, dsn, id, n) })
}

// sessionsPage runs one session through a server that start starts,
// stops it, has copy make 1 000 000 copies of the session (1 000 with
// -short), starts it again and times the reads.
func sessionsPage(b *testing.B, start func() *cbtest.Server, copy func(id string, n int)) {
	copies := 1_000_000
	if testing.Short() {
		copies = 1000
	}
	s := start()
	e := newEMSP(b)
	e.register(s)
	sessionID := chargeOneSession(b, s)
	s.Stop()
	t0 := time.Now()
	copy(sessionID, copies)
	b.Logf("copied session %s %d times in %v", sessionID, copies, time.Since(t0).Round(time.Millisecond))
	s = start()
	e.mu.Lock()
	auth := "Token " + base64.StdEncoding.EncodeToString([]byte(e.cpoToken))
	e.mu.Unlock()
	// The copies are one second apart, the newest now: the last 4 days
	// hold about 345 600 of them.
	from := time.Now().UTC().Add(-96 * time.Hour).Format(time.RFC3339)
	// What an eMSP that follows the Links asks for in the middle: the
	// next Link of the page before offset copies/2, with its cursor.
	half := nextLink(b, s.HTTP, s.URL()+fmt.Sprintf("/ocpi/2.2.1/sessions?offset=%d&limit=100", copies/2-100), auth)
	for _, tc := range []struct{ name, path string }{
		{"ocpi-first-page", "/ocpi/2.2.1/sessions?limit=100"},
		{"ocpi-offset-500000", "/ocpi/2.2.1/sessions?offset=500000&limit=100"},
		{"ocpi-next-link-at-500000", strings.TrimPrefix(half, s.URL())},
		{"ocpi-last-page", fmt.Sprintf("/ocpi/2.2.1/sessions?offset=%d&limit=100", copies-99)},
		{"ocpi-date-from-window", "/ocpi/2.2.1/sessions?date_from=" + from + "&limit=100"},
		{"api-sessions-first-page", "/api/v1/sessions?limit=100"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a := auth
			if strings.HasPrefix(tc.path, "/api/") {
				a = ""
			}
			var n int64
			for b.Loop() {
				n, _ = cbtest.Get(b, s.HTTP, s.URL()+tc.path, a)
			}
			b.ReportMetric(float64(n), "body-bytes")
		})
	}
}

// chargeOneSession runs one session through OCPP: boot, start, three
// MeterValues, stop; it waits for the CPO's final OCPI Session document
// and returns the session's id.
func chargeOneSession(b *testing.B, s *cbtest.Server) string {
	b.Helper()
	c := s.MustDial("CP-PAGE")
	defer c.Close()
	c.Call("BootNotification", map[string]any{"chargePointVendor": "bench", "chargePointModel": "page"})
	c.Call("StatusNotification", map[string]any{"connectorId": 1, "status": "Preparing", "errorCode": "NoError"})
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var st struct {
		TransactionID int64 `json:"transactionId"`
	}
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "04AABBCCDD", "meterStart": 1000, "timestamp": t0.Format(time.RFC3339)}, &st)
	c.Call("StatusNotification", map[string]any{"connectorId": 1, "status": "Charging", "errorCode": "NoError"})
	for i := 1; i <= 3; i++ {
		c.Call("MeterValues", map[string]any{"connectorId": 1, "transactionId": st.TransactionID, "meterValue": []any{map[string]any{
			"timestamp": t0.Add(time.Duration(i) * 10 * time.Minute).Format(time.RFC3339),
			"sampledValue": []any{
				map[string]any{"value": fmt.Sprint(1000 + 1500*i), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
				map[string]any{"value": "9000", "measurand": "Power.Active.Import", "unit": "W"},
			},
		}}})
	}
	c.Call("StopTransaction", map[string]any{"transactionId": st.TransactionID, "meterStop": 6000, "timestamp": t0.Add(40 * time.Minute).Format(time.RFC3339), "reason": "Local"})
	c.Call("StatusNotification", map[string]any{"connectorId": 1, "status": "Available", "errorCode": "NoError"})
	docs, err := s.Service().Docs()
	if err != nil {
		b.Fatal(err)
	}
	var id string
	waitFor(b, "the final OCPI session document", func() bool {
		ds, _, err := docs.ListDocs(context.Background(), charging.DocQuery{Kind: "ocpi_session", Limit: 10})
		if err != nil || len(ds) != 1 || ds[0].Owner != "final" {
			return false
		}
		id = ds[0].ID
		return true
	})
	return id
}

// bulkCopySessions copies session id, its meter fold and its OCPI
// document n times in the SQLite file db, each copy with an id of its own
// and a last_updated one second after the one before. The core tables'
// columns are read from the file, so a column added later is copied too.
func bulkCopySessions(b *testing.B, db, id string, n int) {
	b.Helper()
	d, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)")
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	d.SetMaxOpenConns(1)
	cols := func(table string) []string {
		rows, err := d.Query(`SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				b.Fatal(err)
			}
			out = append(out, c)
		}
		return out
	}
	exec := func(q string, args ...any) {
		if _, err := d.Exec(q, args...); err != nil {
			b.Fatalf("%.300s: %v", q, err)
		}
	}
	series := `WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?) `
	exec("BEGIN")
	// The core's sessions: every column as the template's but the ones
	// that must stay unique.
	sc := cols("sessions")
	var sel []string
	for _, c := range sc {
		switch c {
		case "id":
			sel = append(sel, `s.id || '-' || k.i`)
		case "start_key":
			sel = append(sel, `NULL`)
		case "transaction_id":
			sel = append(sel, `'copy-' || k.i`)
		default:
			sel = append(sel, "s."+c)
		}
	}
	sc = slices.DeleteFunc(sc, func(c string) bool { return c == "seq" })
	sel = slices.DeleteFunc(sel, func(c string) bool { return c == "s.seq" })
	exec(series+`INSERT INTO sessions (`+strings.Join(sc, ", ")+`) SELECT `+strings.Join(sel, ", ")+` FROM k, sessions s WHERE s.id = ?`, n, id)
	// Tables keyed by the session's seq (the meter fold today) get a
	// row per copy.
	for _, t := range []string{"session_meter"} {
		tc := cols(t)
		if len(tc) == 0 || tc[0] != "seq" {
			continue
		}
		rest := tc[1:]
		exec(`INSERT INTO `+t+` (seq, `+strings.Join(rest, ", ")+`) SELECT c.seq, m.`+strings.Join(rest, ", m.")+
			` FROM sessions c, sessions s, `+t+` m WHERE s.id = ? AND m.seq = s.seq AND c.id LIKE s.id || '-%'`, id)
	}
	// The OCPI documents: the body's id replaced by the copy's.
	exec(series+`INSERT INTO docs (kind, id, owner, body, updated)
		SELECT d.kind, d.id || '-' || k.i, d.owner, CAST(replace(CAST(d.body AS TEXT), '"'||d.id||'"', '"'||d.id||'-'||k.i||'"') AS BLOB), d.updated - (? - k.i) * 1000000000
		FROM k, docs d WHERE d.kind = 'ocpi_session' AND d.id = ?`, n, n, id)
	exec("COMMIT")
	var got int
	if err := d.QueryRow(`SELECT count(*) FROM docs WHERE kind = 'ocpi_session'`).Scan(&got); err != nil || got != n+1 {
		b.Fatalf("got %d OCPI session documents (%v); want %d", got, err, n+1)
	}
	exec("PRAGMA wal_checkpoint(TRUNCATE)")
}

// nextLink GETs url and returns its Link rel="next" URL, which must carry
// a cursor.
func nextLink(b *testing.B, client *http.Client, url, auth string) string {
	_, h := cbtest.Get(b, client, url, auth)
	m := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(h.Get("Link"))
	if m == nil || !strings.Contains(m[1], "after=") {
		b.Fatalf("GET %s: Link %q; want a next link with a cursor", url, h.Get("Link"))
	}
	return m[1]
}

// bulkCopySessionsPostgres is bulkCopySessions on PostgreSQL, where the
// meter fold lives in the sessions row.
func bulkCopySessionsPostgres(b *testing.B, dsn, id string, n int) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(q string, args ...any) {
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			b.Fatalf("%.300s: %v", q, err)
		}
	}
	rows, err := conn.Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'sessions' ORDER BY ordinal_position`)
	if err != nil {
		b.Fatal(err)
	}
	var cols, sel []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			b.Fatal(err)
		}
		switch c {
		case "seq":
			continue
		case "id":
			sel = append(sel, `s.id || '-' || k.i`)
		case "start_key":
			sel = append(sel, `NULL`)
		case "transaction_id":
			sel = append(sel, `'copy-' || k.i`)
		default:
			sel = append(sel, "s."+c)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	exec(`INSERT INTO sessions (`+strings.Join(cols, ", ")+`) SELECT `+strings.Join(sel, ", ")+
		` FROM generate_series(1, $1::int) k(i), sessions s WHERE s.id = $2`, n, id)
	exec(`INSERT INTO docs (kind, id, owner, body, updated)
		SELECT d.kind, d.id || '-' || k.i, d.owner,
			convert_to(replace(convert_from(d.body, 'UTF8'), '"' || d.id || '"', '"' || d.id || '-' || k.i || '"'), 'UTF8'),
			d.updated - ($1::bigint - k.i) * 1000000000
		FROM generate_series(1, $1::int) k(i), docs d WHERE d.kind = 'ocpi_session' AND d.id = $2`, n, id)
	exec(`ANALYZE sessions`)
	exec(`ANALYZE docs`)
	var got int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM docs WHERE kind = 'ocpi_session'`).Scan(&got); err != nil || got != n+1 {
		b.Fatalf("got %d OCPI session documents (%v); want %d", got, err, n+1)
	}
}
