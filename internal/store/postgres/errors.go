package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// target names the server and database of a configuration, without the
// password, for start-up errors.
type target struct {
	addr, user, database string
}

func (t target) String() string {
	return fmt.Sprintf("at %s (user %q, database %q)", t.addr, t.user, t.database)
}

func describeTarget(pc *pgxpool.Config) target {
	cc := pc.ConnConfig
	addr := cc.Host
	if strings.HasPrefix(addr, "/") {
		addr = fmt.Sprintf("%s/.s.PGSQL.%d", addr, cc.Port)
	} else {
		addr = net.JoinHostPort(addr, strconv.Itoa(int(cc.Port)))
	}
	return target{addr: addr, user: cc.User, database: cc.Database}
}

// startupError turns a failure to connect or migrate into one line that
// says what happened and what to do. The text never holds the password:
// it is built from the parsed configuration, not from the URL.
func startupError(t target, err error) error {
	var (
		pgErr  *pgconn.PgError
		dnsErr *net.DNSError
	)
	msg := ""
	switch {
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case "28P01": // invalid_password
			msg = fmt.Sprintf("PostgreSQL %s refused the password of user %q; put the right one in --db (postgres://%s:PASSWORD@%s/%s), PGPASSWORD or ~/.pgpass",
				t, t.user, t.user, t.addr, t.database)
		case "3D000": // invalid_catalog_name
			msg = fmt.Sprintf("PostgreSQL at %s has no database %q; create it (createdb -h HOST -p PORT -U %s %s) or name an existing one in --db",
				t.addr, t.database, t.user, t.database)
		case "28000": // invalid_authorization_specification: unknown role, no pg_hba.conf entry
			msg = fmt.Sprintf("PostgreSQL %s refused the login: %s; create the role or allow it in pg_hba.conf, or connect as another user in --db",
				t, pgErr.Message)
		case "53300": // too_many_connections
			msg = fmt.Sprintf("PostgreSQL %s has no free connections; raise its max_connections or lower pool_max_conns in --db", t)
		case "57P03": // cannot_connect_now
			msg = fmt.Sprintf("PostgreSQL %s is starting up or shutting down; start chargebridge again once it accepts connections", t)
		case "42501": // insufficient_privilege
			msg = fmt.Sprintf("PostgreSQL %s: user %q may not create the tables (%s); grant it CREATE on the schema, or run `chargebridge migrate` once as the owner",
				t, t.user, pgErr.Message)
		case "3F000": // invalid_schema_name
			msg = fmt.Sprintf("PostgreSQL %s: %s; create the schema (CREATE SCHEMA name) or fix search_path in --db", t, pgErr.Message)
		default:
			msg = fmt.Sprintf("PostgreSQL %s: %s", t, oneLine(err.Error()))
		}
	case errors.Is(err, errNoSchema):
		msg = fmt.Sprintf("PostgreSQL %s: no schema of the search_path exists; create it (CREATE SCHEMA name) or fix search_path in --db", t)
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = fmt.Sprintf("cannot connect to PostgreSQL %s: connection refused; start the server, or fix the host and port in --db", t)
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT):
		msg = fmt.Sprintf("cannot connect to PostgreSQL %s: no server socket there; start the server, or fix the host in --db", t)
	case errors.As(err, &dnsErr):
		msg = fmt.Sprintf("cannot connect to PostgreSQL %s: host %q not found; fix the host in --db", t, dnsErr.Name)
	case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) || isNetTimeout(err):
		msg = fmt.Sprintf("PostgreSQL %s did not answer in time; check that the server is up and reachable (host, port, firewall), or raise connect_timeout in --db", t)
	case errors.Is(err, context.Canceled):
		msg = fmt.Sprintf("connecting to PostgreSQL %s: cancelled", t)
	default:
		msg = fmt.Sprintf("cannot use PostgreSQL %s: %s", t, oneLine(err.Error()))
	}
	return &openError{msg: "open PostgreSQL store: " + msg, err: err}
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// parseErrorText describes why a connection string did not parse, without
// repeating the string (which may hold a password).
func parseErrorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return "not a valid PostgreSQL URL: " + ue.Err.Error()
	}
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		// The text is "cannot parse `CONNSTRING`: why"; keep only why.
		s := pe.Error()
		if i := strings.LastIndex(s, "`: "); i >= 0 {
			return "not a valid PostgreSQL URL: " + oneLine(s[i+3:])
		}
	}
	return "not a valid PostgreSQL URL"
}

// Redact returns a PostgreSQL URL fit for logs: a password in the user
// part or in a password parameter is replaced by "xxxxx". A string that is
// not a URL is replaced whole, since it may be a keyword/value string with
// a password in it.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "(PostgreSQL connection string)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
