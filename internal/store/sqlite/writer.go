package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
)

// writer holds the write connection and its prepared statements. Only the
// writer goroutine uses it. It talks to the driver directly rather than
// through database/sql: it runs every write, so its overhead per statement
// is the store's throughput.
type writer struct {
	// ctx is the context of every write statement. It is never cancelled:
	// an operation shares its transaction with others, so one caller's
	// cancellation must not interrupt it.
	ctx  context.Context
	dc   driver.Conn
	all  []driver.Stmt
	args []driver.NamedValue
	row  wrow

	begin, commit, rollback, savepoint, release, rollbackTo driver.Stmt

	insertCharger, insertConnector, recordBoot, touchCharger, chargerExists driver.Stmt
	setConnector, evseConns, setPlug, putTag, insertEvent                   driver.Stmt
	deleteConnectors, deleteCharger, deleteTag                              driver.Stmt

	sessionByKey, sessionByTx, openOn, closeOpenMeter, closeOpen, bumpTx, lastTx driver.Stmt
	lastRowID                                                                    driver.Stmt
	insertSession, insertMeter, insertSample, stopSession, stopMeter             driver.Stmt

	lc lifecycleStmts // reserved and pending sessions, documents (lifecycle.go)
	jr journal        // journalled samples (journal.go)
	ev eventStmts     // the event log (events.go)

	// wroteEvents is set by insertEvents: the transaction has events, and
	// the log's consumers are woken when it commits.
	wroteEvents bool
}

func newWriter(dc driver.Conn) *writer {
	return &writer{ctx: context.Background(), dc: dc}
}

// prepare prepares the statements. Migrations must have run: the
// statements name the tables.
func (w *writer) prepare() error {
	var err error
	p := func(q string) driver.Stmt {
		if err != nil {
			return nil
		}
		var st driver.Stmt
		st, err = w.dc.(driver.ConnPrepareContext).PrepareContext(w.ctx, q)
		if err != nil {
			err = fmt.Errorf("prepare %q: %w", q, err)
			return nil
		}
		w.all = append(w.all, st)
		return st
	}
	w.begin = p("BEGIN IMMEDIATE")
	w.commit = p("COMMIT")
	w.rollback = p("ROLLBACK")
	w.savepoint = p("SAVEPOINT op")
	w.release = p("RELEASE op")
	w.rollbackTo = p("ROLLBACK TO op")

	w.insertCharger = p(sqlInsertCharger)
	w.insertConnector = p(sqlInsertConnector)
	w.recordBoot = p(sqlRecordBoot)
	w.touchCharger = p(sqlTouchCharger)
	w.chargerExists = p(sqlChargerExists)
	w.setConnector = p(sqlSetConnector)
	w.evseConns = p(sqlEVSEConnectors)
	w.setPlug = p(sqlSetPlug)
	w.putTag = p(sqlPutTag)
	w.deleteConnectors = p(sqlDeleteConnectors)
	w.deleteCharger = p(sqlDeleteCharger)
	w.deleteTag = p(sqlDeleteTag)
	w.insertEvent = p(sqlInsertEvent)

	w.sessionByKey = p(sqlSessionByKey)
	w.sessionByTx = p(sqlSessionByTxCharger)
	w.openOn = p(sqlOpenOn)
	w.lastRowID = p("SELECT last_insert_rowid()")
	w.closeOpenMeter = p(sqlCloseOpenMeter)
	w.closeOpen = p(sqlCloseOpen)
	w.bumpTx = p(sqlBumpTx)
	w.lastTx = p(sqlLastTx)
	w.insertSession = p(sqlInsertSession)
	w.insertMeter = p(sqlInsertMeter)
	w.insertSample = p(sqlInsertSample)
	w.stopSession = p(sqlStopSession)
	w.stopMeter = p(sqlStopMeter)
	w.lc.prepare(p)
	w.ev.prepare(p)
	w.jr.prepare(p)
	return err
}

func (w *writer) close() {
	for _, st := range w.all {
		st.Close()
	}
	w.all = nil
}

// bind turns args into driver values in a buffer the writer reuses.
func (w *writer) bind(args []any) ([]driver.NamedValue, error) {
	var err error
	w.args, err = appendArgs(w.args[:0], args)
	return w.args, err
}

// appendArgs appends args as driver values. Callers of the hot paths use it
// to prepare arguments in their own goroutine, off the writer's.
func appendArgs(nv []driver.NamedValue, args []any) ([]driver.NamedValue, error) {
	for i, a := range args {
		switch v := a.(type) {
		case int:
			a = int64(v)
		case nil, int64, float64, bool, string, []byte:
		default:
			return nil, fmt.Errorf("argument %d: unsupported type %T", i+1, a)
		}
		nv = append(nv, driver.NamedValue{Ordinal: len(nv) + 1, Value: a})
	}
	return nv, nil
}

// run runs a statement.
func (w *writer) run(st driver.Stmt, args ...any) error {
	_, err := w.exec(st, args...)
	return err
}

// exec runs a statement and returns the number of rows it changed.
func (w *writer) exec(st driver.Stmt, args ...any) (int64, error) {
	nv, err := w.bind(args)
	if err != nil {
		return 0, err
	}
	return w.execArgs(st, nv)
}

// execArgs runs a statement with prepared arguments and returns the number
// of rows it changed.
func (w *writer) execArgs(st driver.Stmt, nv []driver.NamedValue) (int64, error) {
	res, err := st.(driver.StmtExecContext).ExecContext(w.ctx, nv)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// queryRow runs a statement returning at most one row and keeps that row
// for Scan, which reports sql.ErrNoRows when there was none.
func (w *writer) queryRow(st driver.Stmt, args ...any) *wrow {
	r := &w.row
	r.vals, r.err = r.vals[:0], nil
	nv, err := w.bind(args)
	if err != nil {
		r.err = err
		return r
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(w.ctx, nv)
	if err != nil {
		r.err = err
		return r
	}
	r.read(rows)
	return r
}

// queryRowSQL is queryRow for SQL text, not prepared.
func (w *writer) queryRowSQL(q string) *wrow {
	r := &w.row
	r.vals, r.err = r.vals[:0], nil
	rows, err := w.dc.(driver.QueryerContext).QueryContext(w.ctx, q, nil)
	if err != nil {
		r.err = err
		return r
	}
	r.read(rows)
	return r
}

// read keeps the first row of rows and closes them.
func (r *wrow) read(rows driver.Rows) {
	n := len(rows.Columns())
	if cap(r.vals) < n {
		r.vals = make([]driver.Value, n)
	}
	r.vals = r.vals[:n]
	err := rows.Next(r.vals)
	if isEOF(err) {
		err = sql.ErrNoRows
	}
	r.err = errors.Join(err, rows.Close())
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// execScript runs SQL text of one or more statements without arguments.
func (w *writer) execScript(q string) error {
	_, err := w.dc.(driver.ExecerContext).ExecContext(w.ctx, q, nil)
	return err
}

// queryInts runs a query of one integer column and returns its values.
func (w *writer) queryInts(q string) ([]int64, error) {
	rows, err := w.dc.(driver.QueryerContext).QueryContext(w.ctx, q, nil)
	if err != nil {
		return nil, err
	}
	return readInts(rows)
}

// queryInt64s runs a prepared query of one integer column and returns its
// values.
func (w *writer) queryInt64s(st driver.Stmt, args ...any) ([]int64, error) {
	nv, err := w.bind(args)
	if err != nil {
		return nil, err
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(w.ctx, nv)
	if err != nil {
		return nil, err
	}
	return readInts(rows)
}

func readInts(rows driver.Rows) ([]int64, error) {
	defer rows.Close()
	var out []int64
	dest := make([]driver.Value, 1)
	for {
		err := rows.Next(dest)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		n, ok := dest[0].(int64)
		if !ok {
			return nil, fmt.Errorf("got %T; want an integer", dest[0])
		}
		out = append(out, n)
	}
}

// wrow is a row read by the writer, scanned like a *sql.Row.
type wrow struct {
	vals []driver.Value
	err  error
}

// Scan copies the row into dest, which may hold *int64, *int, *float64,
// *string, *bool, *[]byte or an sql.Scanner.
func (r *wrow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if len(dest) != len(r.vals) {
		return fmt.Errorf("scan: %d destinations for %d columns", len(dest), len(r.vals))
	}
	for i, v := range r.vals {
		ok := true
		switch d := dest[i].(type) {
		case sql.Scanner:
			if err := d.Scan(v); err != nil {
				return fmt.Errorf("scan column %d: %w", i, err)
			}
		case *int64:
			*d, ok = v.(int64)
		case *int:
			var n int64
			n, ok = v.(int64)
			*d = int(n)
		case *float64:
			switch x := v.(type) {
			case float64:
				*d = x
			case int64:
				*d = float64(x)
			default:
				ok = false
			}
		case *string:
			switch x := v.(type) {
			case string:
				*d = x
			case []byte:
				*d = string(x)
			default:
				ok = false
			}
		case *bool:
			var n int64
			n, ok = v.(int64)
			*d = n != 0
		case *[]byte:
			switch x := v.(type) {
			case []byte:
				*d = append([]byte(nil), x...)
			case nil:
				*d = nil
			default:
				ok = false
			}
		default:
			return fmt.Errorf("scan column %d: unsupported destination %T", i, dest[i])
		}
		if !ok {
			return fmt.Errorf("scan column %d: cannot store %T in %T", i, v, dest[i])
		}
	}
	return nil
}
