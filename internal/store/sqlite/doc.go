// Package sqlite is the SQLite implementation of charging.Store, for one
// chargebridge process with its database in a local file.
//
// It uses modernc.org/sqlite, SQLite translated to pure Go: no cgo and no C
// toolchain, so `go build` and `go run` work on any machine.
//
// Writes go through one writer goroutine that owns the only write
// connection. It takes the write operations waiting for it (up to 256, for
// up to 5ms) into one transaction, with a SAVEPOINT each so a failing
// operation fails alone, commits once, and only then answers each caller.
// So an acknowledged write is committed, and chargers writing at the same
// time share one fsync instead of paying one each. A caller's context bounds
// only its wait to be queued: once queued, its operation shares a
// transaction with others and the caller waits for the outcome. Reads use a
// separate pool of connections, which WAL mode lets run beside the writer;
// a checkpointer goroutine copies the WAL into the database file in the
// background, so the writer never does.
//
// Durability: by default the database runs with synchronous=FULL, so every
// commit is fsynced before any of its operations is acknowledged (or
// visible to readers), and survives power loss. WithSynchronousNormal is
// faster but only survives a crash of the process: after power loss the
// last acknowledged writes may be gone.
//
// Times are stored as UTC unix nanoseconds and read back exactly (in UTC);
// they must lie between the years 1678 and 2262, and the zero time is stored
// as NULL. A session's meter samples are journalled, those of one write
// transaction in one row, and copied into one row per session and round
// later by the writer (journal.go); reads see both. Their sampled values
// are in a compact binary form (values.go). Samples with no session, and
// those written before migration 0016, are rows of meter_samples (before
// migration 0014 with a JSON array of values, read as before).
package sqlite
