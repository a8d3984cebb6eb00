// Package pgtest gives tests a PostgreSQL schema of their own. The database
// comes from the environment variable CHARGEBRIDGE_TEST_POSTGRES (e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable); without it the
// tests that need one skip, saying how to run them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/testenv"
)

// EnvVar names the environment variable with the test database's URL.
const EnvVar = "CHARGEBRIDGE_TEST_POSTGRES"

// URL returns the test database's URL, or skips the test.
func URL(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvVar)
	if dsn == "" {
		testenv.Missing(t, EnvVar+" is not set: the PostgreSQL tests need a PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	return dsn
}

// Schema creates a schema of its own for t in the test database and returns
// the database URL with search_path set to it, so tests never see each
// other's tables. The schema is dropped when t ends. It skips the test when
// there is no test database.
func Schema(t testing.TB) string {
	t.Helper()
	dsn := URL(t)
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "cbtest_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the database of %s: %v", EnvVar, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return WithParam(t, dsn, "search_path", schema)
}

// WithParam sets a query parameter of a postgres:// URL.
func WithParam(t testing.TB, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", EnvVar)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
