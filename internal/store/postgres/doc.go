// Package postgres is the PostgreSQL implementation of charging.Store, for
// operators with many sites and for several chargebridge processes sharing
// one database. It uses github.com/jackc/pgx/v5 and its pool.
//
// The schema comes from embedded migrations (migrations/NNNN_*.sql), applied
// by Open in one transaction under an advisory lock, so processes starting
// together do not race; a database migrated by a newer chargebridge is
// refused. The tables live in the connection's current schema: choose one
// with search_path in the URL (postgres://…/db?search_path=cb).
//
// Every write is one round trip and one transaction (a single statement, or
// a pipelined batch that PostgreSQL runs as one implicit transaction), and a
// call returns only after its transaction committed: an acknowledged write is
// as durable as the server's synchronous_commit makes it (on by default:
// flushed to the WAL). MeterValues, the bulk of what chargers send, go
// through a few meter writers that put all the MeterValues waiting at once
// into one statement (each session's folded meter written by primary key
// over its version, samples as one multi-row insert from arrays) and one
// commit, never waiting for more to come; a
// failed batch is retried one MeterValues at a time, so one bad write fails
// alone. Other concurrent writes share WAL flushes through PostgreSQL's own
// group commit.
//
// Several processes may share the database. Transaction ids come from a
// SEQUENCE, so no two sessions anywhere ever get the same one. A start
// takes a transaction-scoped advisory lock on its charger and connector, so
// concurrent starts on one connector (from any process) leave exactly one
// open session, and a unique index enforces that rule for any writer.
//
// Times are stored as UTC unix nanoseconds (bigint) and read back exactly
// (in UTC), as in the SQLite store; they must lie between the years 1678 and
// 2262, and the zero time is stored as NULL. Meter samples are stored one
// row per MeterSample, the sampled values as a JSON array (json, kept as
// written).
package postgres
