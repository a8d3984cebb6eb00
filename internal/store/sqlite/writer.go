package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// writer holds the write connection and its prepared statements. Only the
// writer goroutine uses it (and Open, before that goroutine starts).
type writer struct {
	// ctx is the context of every write statement. It is never cancelled:
	// an operation shares its transaction with others, so one caller's
	// cancellation must not interrupt it.
	ctx  context.Context
	conn *sql.Conn
	all  []*sql.Stmt

	begin, commit, rollback, savepoint, release, rollbackTo *sql.Stmt

	insertCharger, insertConnector, recordBoot, touchCharger, chargerExists *sql.Stmt
	setConnector, putTag, insertEvent                                       *sql.Stmt

	sessionByKey, sessionByTx, closeOpen, nextTx, insertSession *sql.Stmt
	foldMeter, insertSample, stopSession                        *sql.Stmt
}

func newWriter(ctx context.Context, conn *sql.Conn) (*writer, error) {
	w := &writer{ctx: context.Background(), conn: conn}
	var err error
	p := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = conn.PrepareContext(ctx, q)
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
	w.putTag = p(sqlPutTag)
	w.insertEvent = p(sqlInsertEvent)

	w.sessionByKey = p(sqlSessionByKey)
	w.sessionByTx = p(sqlSessionByTxCharger)
	w.closeOpen = p(sqlCloseOpen)
	w.nextTx = p(sqlNextTx)
	w.insertSession = p(sqlInsertSession)
	w.foldMeter = p(sqlFoldMeter)
	w.insertSample = p(sqlInsertSample)
	w.stopSession = p(sqlStopSession)
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *writer) exec(st *sql.Stmt, args ...any) error {
	_, err := st.ExecContext(w.ctx, args...)
	return err
}

// close closes the statements and gives the connection back to its pool;
// closing the pool then closes it. Nothing is lost when these fail.
func (w *writer) close() {
	for _, st := range w.all {
		st.Close()
	}
	w.conn.Close()
}
