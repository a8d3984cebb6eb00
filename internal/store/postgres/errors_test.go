package postgres

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

const secret = "s3cret-pw"

// checkOneLine fails unless err is one line that contains want and not the
// password.
func checkOneLine(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error; want one saying %q", want)
	}
	msg := err.Error()
	if !strings.Contains(msg, want) {
		t.Errorf("got %q; want it to say %q", msg, want)
	}
	if strings.Contains(msg, secret) {
		t.Errorf("got %q; it shows the password", msg)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("got %q; want one line", msg)
	}
}

func TestOpenErrors(t *testing.T) {
	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	// silent accepts connections and never answers.
	silent := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
		t.Cleanup(func() { ln.Close(); <-done })
		return ln.Addr().String()
	}
	tests := []struct {
		name string
		dsn  func(t *testing.T) string
		want string
	}{
		{"server-down", func(t *testing.T) string {
			return "postgres://cb:" + secret + "@" + refused(t) + "/cb"
		}, "connection refused; start the server, or fix the host and port in --db"},
		{"server-silent", func(t *testing.T) string {
			return "postgres://cb:" + secret + "@" + silent(t) + "/cb?connect_timeout=1&sslmode=disable"
		}, "did not answer in time"},
		{"bad-port", func(t *testing.T) string { return "postgres://cb:" + secret + "@127.0.0.1:port/cb" }, "not a valid PostgreSQL URL: invalid port"},
		{"bad-pool-setting", func(t *testing.T) string { return "postgres://cb:" + secret + "@127.0.0.1/cb?pool_max_conns=many" }, "cannot parse pool_max_conns"},
		{"bad-keyword-string", func(t *testing.T) string { return "host=127.0.0.1 password=" + secret + " port=x" }, "not a valid PostgreSQL URL"},
		{"unknown-host", func(t *testing.T) string { return "postgres://cb:" + secret + "@no-such-host.invalid/cb" }, `host "no-such-host.invalid" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := Open(t.Context(), tt.dsn(t))
			checkOneLine(t, err, tt.want)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Open took %v; want a quick failure", d)
			}
		})
	}
}

func TestOpenErrorsFromServer(t *testing.T) {
	dsn := pgtest.URL(t)
	tests := []struct {
		name  string
		param string
		value string
		want  string
	}{
		{"missing-database", "", "", `has no database "chargebridge_no_such_db"; create it`},
		{"missing-schema", "search_path", "cb_no_such_schema", "no schema of the search_path exists; create it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc, err := pgconn.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			u := fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", pc.User, secret, net.JoinHostPort(pc.Host, fmt.Sprint(pc.Port)), pc.Database)
			if tt.param != "" {
				u = pgtest.WithParam(t, u, tt.param, tt.value)
			} else {
				u = strings.Replace(u, "/"+pc.Database+"?", "/chargebridge_no_such_db?", 1)
			}
			_, err = Open(t.Context(), u)
			checkOneLine(t, err, tt.want)
		})
	}
}

// TestStartupErrorMessages covers the server's refusals that a trust-auth
// test server cannot produce.
func TestStartupErrorMessages(t *testing.T) {
	tg := target{addr: "db.example:5432", user: "cb", database: "chargebridge"}
	tests := []struct {
		code string
		want string
	}{
		{"28P01", `refused the password of user "cb"; put the right one in --db (postgres://cb:PASSWORD@db.example:5432/chargebridge), PGPASSWORD or ~/.pgpass`},
		{"28000", "refused the login: no pg_hba.conf entry; create the role or allow it in pg_hba.conf"},
		{"53300", "has no free connections; raise its max_connections or lower pool_max_conns"},
		{"57P03", "is starting up or shutting down"},
		{"42501", `user "cb" may not create the tables`},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			cause := &pgconn.PgError{Severity: "FATAL", Code: tt.code, Message: "no pg_hba.conf entry"}
			err := startupError(tg, fmt.Errorf("failed to connect: %w", cause))
			checkOneLine(t, err, tt.want)
			if !strings.HasPrefix(err.Error(), "open PostgreSQL store: ") {
				t.Errorf("got %q; want it to start with \"open PostgreSQL store: \"", err)
			}
		})
	}
	t.Run("context-deadline", func(t *testing.T) {
		checkOneLine(t, startupError(tg, context.DeadlineExceeded), "did not answer in time")
	})
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://cb:" + secret + "@db:5432/cb?sslmode=disable", "postgres://cb:xxxxx@db:5432/cb?sslmode=disable"},
		{"postgres://cb@db/cb?password=" + secret, "postgres://cb@db/cb?password=xxxxx"},
		{"postgres://cb@db/cb", "postgres://cb@db/cb"},
		{"host=db password=" + secret, "(PostgreSQL connection string)"},
		{"postgres://cb:" + secret + "@db:port/cb", "(PostgreSQL connection string)"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want || strings.Contains(got, secret) {
			t.Errorf("Redact(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
