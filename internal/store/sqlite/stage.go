package sqlite

import (
	"database/sql/driver"
	"fmt"
	"math"
	"strconv"
)

// A session's samples are appended to a staging table and moved into
// meter_samples later by the writer, a bounded number of rows per commit
// (migration 0015). Appending to meter_samples wrote a page of its
// per-session index for nearly every MeterValues once sessions had samples;
// the staging table's index is small, and a move writes the samples of one
// session next to each other.
//
// Two staging tables take turns. New samples go to the active one. When it
// holds stageRows rows and the other one is empty, they swap; the now
// inactive table no longer changes and is moved in order of (session_seq,
// id), each step recording in meter_stage_state the position below which
// its rows are in meter_samples. The step that moves its last rows empties
// it. A step and its cursor commit together, so readers (sqlSessionSamples)
// and a restart after a crash see every sample once.
//
// Order: ids of the staging tables come from the writer's counter, so they
// follow the order samples were stored in. Rows move in (session_seq, id)
// order and get new, larger ids in meter_samples; the rows of a session in
// meter_samples were all stored before its rows still staged, and those of
// the inactive table before those of the active one.

// Defaults of the staging: how many rows the active table takes before the
// tables swap, and the rows one commit moves (about stepFactor times what
// it staged, within [minStep, maxStep]).
const (
	defaultStageRows = 8192
	stepFactor       = 2
	defaultMinStep   = 16
	defaultMaxStep   = 1024
)

// stageState is what the writer knows of the staging tables, kept in
// memory and restored when a transaction fails.
type stageState struct {
	active   int   // the table new samples go to: meter_stage0 or 1
	rows     int64 // rows in the active table (an estimate: failed operations count)
	pending  bool  // the inactive table has rows not moved yet
	movedSeq int64 // rows of the inactive table below (movedSeq, movedID) are moved
	movedID  int64
}

// stager holds the staging statements and state; only the writer
// goroutine uses it.
type stager struct {
	insert, bound, move, clear [2]driver.Stmt
	setCursor, swap            driver.Stmt
	savepoint, release, undo   driver.Stmt

	st       stageState
	saved    stageState // as of BEGIN
	nextID   int64
	staged   int // rows staged in the current transaction
	maxRows  int64
	minStep  int
	maxStep  int
	nv       [4]driver.NamedValue
	boundRow [2]driver.Value
}

func stageTable(i int) string { return "meter_stage" + strconv.Itoa(i) }

// sqlStageInsert stores a sample of the session with primary key ?1 in a
// staging table; ?8 is its id. The session exists: the meter write before
// it found it by primary key.
func sqlStageInsert(i int) string {
	return `INSERT INTO ` + stageTable(i) + ` (id, session_seq, charger_id, connector_id, transaction_id, ts, received_at, vbin)
	VALUES (?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7)`
}

// sqlStageBound finds where a step that moves ?3 rows from (?1, ?2) on ends.
func sqlStageBound(i int) string {
	return `SELECT session_seq, id FROM ` + stageTable(i) + ` WHERE (session_seq, id) >= (?1, ?2)
	ORDER BY session_seq, id LIMIT 1 OFFSET ?3`
}

// sqlStageMove copies the rows from (?1, ?2) up to (?3, ?4) into
// meter_samples, in order.
func sqlStageMove(i int) string {
	return `INSERT INTO meter_samples (session_seq, charger_id, connector_id, transaction_id, ts, received_at, vals, vbin)
	SELECT session_seq, charger_id, connector_id, transaction_id, ts, received_at, '', vbin FROM ` + stageTable(i) + `
	WHERE (session_seq, id) >= (?1, ?2) AND (session_seq, id) < (?3, ?4) ORDER BY session_seq, id`
}

// sqlStageSamples reads a session's samples in staging table i: all of the
// active table's, and of the inactive table those not moved yet.
func sqlStageSamples(i int) string {
	return `SELECT ts, 1, id, '', vbin FROM ` + stageTable(i) + ` WHERE session_seq = ?1 AND id >= (
	SELECT CASE WHEN active = ` + strconv.Itoa(i) + ` OR ?1 > moved_seq THEN 0 WHEN ?1 = moved_seq THEN moved_id
	ELSE 9223372036854775807 END FROM meter_stage_state)`
}

func (g *stager) prepare(p func(string) driver.Stmt) {
	for i := range 2 {
		g.insert[i] = p(sqlStageInsert(i))
		g.bound[i] = p(sqlStageBound(i))
		g.move[i] = p(sqlStageMove(i))
		// No WHERE: SQLite frees the table's pages without visiting rows.
		g.clear[i] = p(`DELETE FROM ` + stageTable(i))
	}
	g.setCursor = p(`UPDATE meter_stage_state SET moved_seq = ?1, moved_id = ?2 WHERE id = 1`)
	g.swap = p(`UPDATE meter_stage_state SET active = ?1, moved_seq = 0, moved_id = 0 WHERE id = 1`)
	g.savepoint = p("SAVEPOINT stage")
	g.release = p("RELEASE stage")
	g.undo = p("ROLLBACK TO stage")
}

// load reads the staging tables' state, at start.
func (w *writer) loadStage(maxRows int64, minStep, maxStep int) error {
	g := &w.stage
	g.maxRows, g.minStep, g.maxStep = maxRows, minStep, maxStep
	var active int64
	if err := w.queryRowSQL(`SELECT active, moved_seq, moved_id FROM meter_stage_state WHERE id = 1`).Scan(&active, &g.st.movedSeq, &g.st.movedID); err != nil {
		return fmt.Errorf("read staging state: %w", err)
	}
	g.st.active = int(active)
	var pending int64
	err := w.queryRowSQL(`SELECT (SELECT count(*) FROM `+stageTable(g.st.active)+`), EXISTS (SELECT 1 FROM `+stageTable(1-g.st.active)+`),
	max(coalesce((SELECT max(id) FROM meter_stage0), 0), coalesce((SELECT max(id) FROM meter_stage1), 0))`).Scan(&g.st.rows, &pending, &g.nextID)
	if err != nil {
		return fmt.Errorf("read staging state: %w", err)
	}
	g.st.pending = pending != 0
	g.nextID++
	g.saved = g.st
	return nil
}

// stageSample stores a sample of a session (args of sqlInsertSample and a
// slot for the id) in the active staging table.
func (w *writer) stageSample(nv []driver.NamedValue) error {
	g := &w.stage
	nv[7].Value = g.nextID
	g.nextID++
	if _, err := w.execArgs(g.insert[g.st.active], nv); err != nil {
		return err
	}
	g.st.rows++
	g.staged++
	return nil
}

// beginStage notes the state a failed transaction returns to.
func (g *stager) begin() { g.saved, g.staged = g.st, 0 }

// abortStage returns to the state as of BEGIN: the transaction rolled back.
func (g *stager) abort() { g.st = g.saved }

// compactStep moves rows of the inactive staging table into meter_samples,
// or swaps the tables when the active one is full and the other empty. It
// runs in a savepoint of its own at the end of a write transaction: when a
// step fails (stepErr), it is undone and the transaction's operations
// commit all the same, the rows staged. fatal is an error of the savepoint
// itself, which dooms the transaction. n is the rows moved.
func (w *writer) compactStep() (n int, stepErr, fatal error) {
	g := &w.stage
	if !g.st.pending {
		if g.st.rows < g.maxRows {
			return 0, nil, nil
		}
		if err := w.run(g.swap, int64(1-g.st.active)); err != nil {
			return 0, nil, fmt.Errorf("swap staging tables: %w", err)
		}
		g.st = stageState{active: 1 - g.st.active, pending: true}
		// The first rows move with the next commit.
		return 0, nil, nil
	}
	budget := min(max(stepFactor*g.staged, g.minStep), g.maxStep)
	before := g.st
	if err := w.run(g.savepoint); err != nil {
		return 0, nil, fmt.Errorf("staging savepoint: %w", err)
	}
	n, stepErr = w.moveStep(budget)
	if stepErr != nil {
		g.st, n = before, 0
		if err := w.run(g.undo); err != nil {
			return 0, stepErr, fmt.Errorf("roll back to staging savepoint after %v: %w", stepErr, err)
		}
	}
	if err := w.run(g.release); err != nil {
		return 0, stepErr, fmt.Errorf("release staging savepoint: %w", err)
	}
	return n, stepErr, nil
}

// moveStep moves up to budget rows of the inactive table and records how
// far it got.
func (w *writer) moveStep(budget int) (int, error) {
	g := &w.stage
	in := 1 - g.st.active
	g.nv[0] = driver.NamedValue{Ordinal: 1, Value: g.st.movedSeq}
	g.nv[1] = driver.NamedValue{Ordinal: 2, Value: g.st.movedID}
	g.nv[2] = driver.NamedValue{Ordinal: 3, Value: int64(budget)}
	endSeq, endID, last := int64(math.MaxInt64), int64(math.MaxInt64), true
	rows, err := g.bound[in].(driver.StmtQueryContext).QueryContext(w.ctx, g.nv[:3])
	if err != nil {
		return 0, fmt.Errorf("bound of staged samples: %w", err)
	}
	switch err := rows.Next(g.boundRow[:]); err {
	case nil:
		endSeq, endID, last = g.boundRow[0].(int64), g.boundRow[1].(int64), false
	default:
		if !isEOF(err) {
			rows.Close()
			return 0, fmt.Errorf("bound of staged samples: %w", err)
		}
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("bound of staged samples: %w", err)
	}
	g.nv[2] = driver.NamedValue{Ordinal: 3, Value: endSeq}
	g.nv[3] = driver.NamedValue{Ordinal: 4, Value: endID}
	n, err := w.execArgs(g.move[in], g.nv[:4])
	if err != nil {
		return 0, fmt.Errorf("move staged samples: %w", err)
	}
	if last {
		// Everything is in meter_samples: empty the table, which the
		// next swap makes the active one.
		if err := w.run(g.clear[in]); err != nil {
			return 0, fmt.Errorf("empty staging table: %w", err)
		}
		endSeq, endID = 0, 0
	}
	if err := w.run(g.setCursor, endSeq, endID); err != nil {
		return 0, fmt.Errorf("staging cursor: %w", err)
	}
	g.st.movedSeq, g.st.movedID, g.st.pending = endSeq, endID, !last
	return int(n), nil
}
