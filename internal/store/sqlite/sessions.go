package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/sqlstatus"
)

// A session is a row of sessions joined with its row of session_meter,
// which holds what MeterValues change (see migration 0002).
const (
	sessionCols = `s.seq, s.id, s.charger_id, s.connector_id, s.transaction_id, s.id_tag, s.status, s.reservation_id,
	s.meter_start_wh, s.meter_stop_wh, m.last_register_wh, m.max_power_kw, m.last_power_kw, m.soc,
	s.started_at, s.ended_at, s.stop_reason, m.last_updated, s.expires_at, m.version, m.last_power_at, m.soc_at, s.evse_connector_id`
	sessionFrom = ` FROM sessions s JOIN session_meter m ON m.seq = s.seq`
)

// The statuses the queries select by come from the core (package
// sqlstatus): openStatuses hold their id tag; a later start supersedes the
// sessions in supersedable on its connector, which then take superseded.
// (supersedable is a subset of openStatuses; the queries name both so that
// SQLite sees the predicate of the partial index sessions_open_connector.)
var (
	openStatuses = sqlstatus.List(charging.OpenStatuses...)
	supersedable = sqlstatus.List(charging.StatusesFrom(charging.Superseded)...)
	superseded   = sqlstatus.One(charging.SupersededStatus())
)

var (
	sqlGetSession         = `SELECT ` + sessionCols + sessionFrom + ` WHERE s.id = ?`
	sqlSessionByKey       = `SELECT ` + sessionCols + sessionFrom + ` WHERE s.start_key = ?`
	sqlSessionByTxCharger = `SELECT ` + sessionCols + sessionFrom + ` WHERE s.charger_id = ?1 AND s.transaction_id = ?2`
	sqlActiveForTag       = `SELECT ` + sessionCols + sessionFrom + `
	WHERE s.id_tag = ? AND s.status IN ` + openStatuses + ` ORDER BY s.seq DESC LIMIT 1`
	sqlSessionSeq = `SELECT seq FROM sessions WHERE id = ?`

	// sqlCloseOpenMeter and then sqlCloseOpen close the sessions still open
	// on a connector.
	sqlCloseOpenMeter = `UPDATE session_meter SET last_updated = ?1, version = version + 1 WHERE seq IN (
	SELECT seq FROM sessions WHERE charger_id = ?2 AND connector_id = ?3 AND status IN ` + openStatuses + ` AND status IN ` + supersedable + ` AND seq <> ?4)`
	sqlCloseOpen = `UPDATE sessions SET status = ` + superseded + `, ended_at = coalesce(ended_at, ?1)
	WHERE charger_id = ?2 AND connector_id = ?3 AND status IN ` + openStatuses + ` AND status IN ` + supersedable + ` AND seq <> ?4`
	// sqlOpenOn lists what sqlCloseOpen is about to close, for its events.
	sqlOpenOn        = `SELECT seq FROM sessions WHERE charger_id = ?1 AND connector_id = ?2 AND status IN ` + openStatuses + ` AND status IN ` + supersedable + ` AND seq <> ?3`
	sqlBumpTx        = `UPDATE tx_sequence SET last = last + 1 WHERE id = 1`
	sqlLastTx        = `SELECT last FROM tx_sequence WHERE id = 1`
	sqlInsertSession = `INSERT INTO sessions (id, start_key, charger_id, connector_id, transaction_id, id_tag, status,
	reservation_id, meter_start_wh, started_at, evse_connector_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlInsertMeter = `INSERT INTO session_meter (seq, last_register_wh, last_updated) VALUES (last_insert_rowid(), ?, ?)`
	sqlStopSession = `UPDATE sessions SET status = ?, meter_stop_wh = ?, stop_reason = ?, ended_at = ? WHERE seq = ?`
	sqlStopMeter   = `UPDATE session_meter SET last_register_wh = ?, last_updated = ?, version = version + 1 WHERE seq = ?`

	// sqlInsertSample stores a sample of the session with primary key ?1
	// (NULL: none).
	sqlInsertSample = `INSERT INTO meter_samples (session_seq, charger_id, connector_id, transaction_id, ts, received_at, vals, vbin)
	VALUES (?1, ?2, ?3, ?4, ?5, ?6, '', ?7)`
)

func sqlListSessions(byStatus, byCharger bool) string {
	q := `SELECT ` + sessionCols + sessionFrom + ` WHERE s.seq < ?1`
	switch {
	case byStatus && byCharger:
		// A charger has few sessions next to the number with a status:
		// the unary + keeps the planner on the charger's index.
		q += ` AND s.charger_id = ?3 AND +s.status = ?2`
	case byStatus:
		q += ` AND s.status = ?2`
	case byCharger:
		q += ` AND s.charger_id = ?3`
	}
	return q + ` ORDER BY s.seq DESC LIMIT ?4`
}

// scanSession reads a row of sessionCols.
func scanSession(sc scanner) (charging.Session, int64, error) {
	var (
		s                           charging.Session
		seq                         int64
		reservation, meterStop      sql.NullInt64
		lastPower, soc              sql.NullFloat64
		started, ended, lastUpdated sql.NullInt64
		expires, powerAt, socAt     sql.NullInt64
		tx                          sql.NullString
	)
	var status string
	err := sc.Scan(&seq, &s.ID, &s.ChargerID, &s.ConnectorID, &tx, &s.IDTag, &status, &reservation,
		&s.MeterStartWh, &meterStop, &s.LastRegisterWh, &s.MaxPowerKW, &lastPower, &soc,
		&started, &ended, &s.StopReason, &lastUpdated, &expires, &s.MeterVersion, &powerAt, &socAt, &s.EVSEConnectorID)
	if err != nil {
		return charging.Session{}, 0, err
	}
	s.Status = charging.SessionStatus(status)
	s.ReservationID, s.MeterStopWh = decInt(reservation), decInt(meterStop)
	s.LastPowerKW, s.SoC = decFloat(lastPower), decFloat(soc)
	s.StartedAt, s.EndedAt, s.LastUpdated = decTime(started), decTimePtr(ended), decTime(lastUpdated)
	s.TransactionID, s.ExpiresAt = tx.String, decTimePtr(expires) // no transaction yet: NULL, read as ""
	if s.LastPowerKW != nil {
		s.LastPowerAt = decTimePtr(powerAt)
	}
	if s.SoC != nil {
		s.SoCAt = decTimePtr(socAt)
	}
	s.Seq = seq
	return s, seq, nil
}

// oneSession reads one session, ErrNotFound when there is none.
func oneSession(row scanner) (charging.Session, int64, error) {
	s, seq, err := scanSession(row)
	if errors.Is(err, sql.ErrNoRows) {
		err = charging.ErrNotFound
	}
	return s, seq, err
}

// oneSession is oneSession for a read outside the writer: the meter is
// the newest committed (meterstate.go).
func (s *Store) oneSession(row scanner) (charging.Session, int64, error) {
	sess, seq, err := oneSession(row)
	if err == nil {
		s.overlay.apply(&sess)
	}
	return sess, seq, err
}

// maxDrawTries bounds the numbers a start draws past those its charger
// already has as transaction ids (see StartSession).
const maxDrawTries = 100

// StartSession stores a session for a StartTransaction, or gives the
// transaction to the reserved or pending session it continues (see
// sqlWaitingFor); see charging.SessionStore. Unless the start names its
// own (2.0.1), the transaction id comes from a sequence bumped in the same
// transaction as the take-over, so it is never handed out twice, also
// across restarts; a number the charger already has as an id of its own
// is skipped.
func (s *Store) StartSession(ctx context.Context, r charging.StartSession) (sess charging.Session, created bool, err error) {
	var te timeEnc
	started, received := te.t(r.StartedAt), te.t(r.ReceivedAt)
	if te.err != nil {
		return charging.Session{}, false, fmt.Errorf("start session at %s/%d: %w", r.ChargerID, r.ConnectorID, te.err)
	}
	if !r.Status.Valid() {
		return charging.Session{}, false, fmt.Errorf("start session at %s/%d: %w: status %q", r.ChargerID, r.ConnectorID, charging.ErrInvalidInput, r.Status)
	}
	err = s.write(ctx, func(w *writer) error {
		if r.StartKey != "" {
			prev, _, err := oneSession(w.queryRow(w.sessionByKey, r.StartKey))
			if err == nil {
				sess = prev
				return nil
			}
			if !errors.Is(err, charging.ErrNotFound) {
				return err
			}
		}
		if r.TransactionID != "" {
			// The charger's own id, unique per charger: one it already
			// has is not a new transaction.
			_, _, err := oneSession(w.queryRow(w.sessionByTx, r.ChargerID, r.TransactionID))
			if err == nil {
				return fmt.Errorf("%w: %s already has transaction %s", charging.ErrExists, r.ChargerID, r.TransactionID)
			}
			if !errors.Is(err, charging.ErrNotFound) {
				return err
			}
		}
		keep, takeOver, err := w.waitingFor(&r)
		if err != nil {
			return err
		}
		// keep, a pending session taken over, stays open; seq 0 is none.
		closing, err := w.queryInt64s(w.openOn, r.ChargerID, r.ConnectorID, keep)
		if err != nil {
			return err
		}
		if err := w.run(w.closeOpenMeter, received, r.ChargerID, r.ConnectorID, keep); err != nil {
			return err
		}
		if err := w.run(w.closeOpen, received, r.ChargerID, r.ConnectorID, keep); err != nil {
			return err
		}
		tx := r.TransactionID
		for tries := 0; tx == ""; tries++ {
			var n int64
			if err := w.run(w.bumpTx); err != nil {
				return fmt.Errorf("next transaction id: %w", err)
			}
			if err := w.queryRow(w.lastTx).Scan(&n); err != nil {
				return fmt.Errorf("next transaction id: %w", err)
			}
			tx = strconv.FormatInt(n, 10)
			// A number the charger already has as a transaction of its
			// own (it ran OCPP 2.0.1 and named one "7") is skipped.
			if _, _, err := oneSession(w.queryRow(w.sessionByTx, r.ChargerID, tx)); err == nil && tries < maxDrawTries {
				tx = ""
			} else if err != nil && !errors.Is(err, charging.ErrNotFound) {
				return err
			}
		}
		for _, seq := range closing {
			if err := w.sessionChanged(seq, r.ReceivedAt); err != nil {
				return err
			}
		}
		if takeOver {
			sess, err = w.takeOver(keep, &r, tx, started, received)
			if err != nil {
				return err
			}
			created = true
			return w.sessionChanged(keep, r.ReceivedAt)
		}
		err = w.run(w.insertSession, r.ID, nullString(r.StartKey), r.ChargerID, r.ConnectorID, tx, r.IDTag,
			string(r.Status), nullInt(r.ReservationID), r.MeterStartWh, started, r.EVSEConnectorID)
		if err != nil {
			return err
		}
		if err := w.run(w.insertMeter, float64(r.MeterStartWh), received); err != nil {
			return err
		}
		var seq int64
		if err := w.queryRow(w.lastRowID).Scan(&seq); err != nil {
			return err
		}
		if err := w.sessionChanged(seq, r.ReceivedAt); err != nil {
			return err
		}
		sess = charging.Session{
			Seq: seq, ID: r.ID, ChargerID: r.ChargerID, ConnectorID: r.ConnectorID, TransactionID: tx, IDTag: r.IDTag,
			Status: r.Status, ReservationID: r.ReservationID, MeterStartWh: r.MeterStartWh,
			LastRegisterWh: float64(r.MeterStartWh), StartedAt: r.StartedAt, LastUpdated: r.ReceivedAt,
		}
		created = true
		return nil
	})
	if err != nil {
		return charging.Session{}, false, fmt.Errorf("start session at %s/%d: %w", r.ChargerID, r.ConnectorID, err)
	}
	return sess, created, nil
}

// WriteMeterValues stores one row per sample, attached to the session with
// primary key w.Seq (none when 0), and writes w.Meter over w.Version; see
// charging.SessionStore. ErrConflict when the session's meter is at
// another version (or there is no such session): nothing is written.
// A session's samples are journalled (journal.go); unattached ones go to
// meter_samples.
func (s *Store) WriteMeterValues(ctx context.Context, w charging.MeterWrite) error {
	m := meterOpPool.Get().(*meterOp)
	defer m.put()
	if err := m.encode(&w); err != nil {
		return fmt.Errorf("meter values of %s: %w", w.ChargerID, err)
	}
	var err error
	if m.doc == nil {
		err = s.writeBare(ctx, m.fn)
	} else {
		// The document is not the session's meter: the meters held in
		// memory stay there.
		err = s.writeOther(ctx, m.fn)
	}
	if err != nil {
		return fmt.Errorf("meter values of %s: %w", w.ChargerID, err)
	}
	return nil
}

// WriteMeterValuesThen is WriteMeterValues for a caller that does not
// wait (charging.MeterWriterThen): then gets its result once, on the
// store's answering goroutine once the commit is on disk, or on the
// caller's before it returns when the write was not queued. then must not
// block, nor wait for the store.
func (s *Store) WriteMeterValuesThen(ctx context.Context, w charging.MeterWrite, then func(error)) {
	m := meterOpPool.Get().(*meterOp)
	if err := m.encode(&w); err != nil {
		m.put()
		then(fmt.Errorf("meter values of %s: %w", w.ChargerID, err))
		return
	}
	m.charger, m.then = w.ChargerID, then
	if m.finished == nil {
		m.finished = m.finish // bound once per pooled op
	}
	// A document is not the session's meter (see WriteMeterValues).
	s.handThen(ctx, m.fn, m.doc == nil, false, m.finished)
}

// finish tells WriteMeterValuesThen's caller the outcome and gives m
// back to the pool.
func (m *meterOp) finish(err error) {
	then, charger := m.then, m.charger
	m.put()
	if err != nil {
		err = fmt.Errorf("meter values of %s: %w", charger, err)
	}
	then(err)
}

// meterOp is a MeterValues' write, its statements' arguments encoded in
// the caller's goroutine so the writer only runs SQL. It is pooled: the
// arguments are bound by the time the write returns.
type meterOp struct {
	fn      func(*writer) error // m.run, bound once
	seq     int64
	version int64
	rec     []byte // the session's meter folded, in the journal's form (none: no session)
	body    []byte // a session's samples, in the journal's form
	n       int    // samples in body
	rows    [][]driver.NamedValue
	nv      []driver.NamedValue // backing of fold and rows
	buf     []byte              // backing of the rows' values
	doc     []driver.NamedValue
	// finished is m.finish, bound once; then and charger are
	// WriteMeterValuesThen's caller and the charger named in its error.
	finished func(error)
	then     func(error)
	charger  string
}

var meterOpPool = sync.Pool{New: func() any {
	m := &meterOp{}
	m.fn = m.run
	return m
}}

func (m *meterOp) put() {
	clear(m.nv)
	clear(m.rows)
	m.rows, m.nv, m.buf, m.doc = m.rows[:0], m.nv[:0], m.buf[:0], nil
	m.rec, m.body, m.n = m.rec[:0], m.body[:0], 0
	m.then, m.charger = nil, ""
	meterOpPool.Put(m)
}

// Arguments of sqlInsertSample.
const sampleArgs = 7

func (m *meterOp) encode(w *charging.MeterWrite) error {
	var err error
	m.seq, m.version = w.Seq, w.Version
	if w.Seq == 0 {
		received, err := encTime(w.ReceivedAt)
		if err != nil {
			return err
		}
		var tx any
		if w.TransactionID != nil {
			tx = *w.TransactionID
		}
		if err := m.encodeRows(w, received, tx); err != nil {
			return err
		}
	} else {
		if m.rec, err = appendMeterRecord(m.rec, w.Version+1, &w.Meter); err != nil {
			return err
		}
		for i := range w.Samples {
			smp := &w.Samples[i]
			start := len(m.buf)
			if m.buf, err = appendValues(m.buf, smp.Values); err != nil {
				return err
			}
			if m.body, err = appendJournalSample(m.body, smp.Timestamp, m.buf[start:]); err != nil {
				return err
			}
			m.buf = m.buf[:start]
		}
		m.n = len(w.Samples)
	}
	if w.Doc != nil {
		if m.doc, err = putDocArgs(*w.Doc); err != nil {
			return err
		}
	}
	return nil
}

// encodeRows encodes the samples of a MeterValues with no session as rows
// of meter_samples.
func (m *meterOp) encodeRows(w *charging.MeterWrite, received, tx any) error {
	charger := any(w.ChargerID)
	for i := range w.Samples {
		smp := &w.Samples[i]
		ts, err := encTime(smp.Timestamp)
		if err != nil {
			return err
		}
		start := len(m.buf)
		if m.buf, err = appendValues(m.buf, smp.Values); err != nil {
			return err
		}
		// The end is fixed below, once m.buf has stopped moving.
		m.nv, err = appendArgs(m.nv, []any{nil, charger, w.ConnectorID, tx, ts, received, nil})
		if err != nil {
			return err
		}
		m.nv[len(m.nv)-1].Value = start
	}
	for n := 0; n < len(m.nv); n += sampleArgs {
		row := m.nv[n : n+sampleArgs : n+sampleArgs]
		start := row[6].Value.(int)
		end := len(m.buf)
		if n+sampleArgs < len(m.nv) {
			end = m.nv[n+sampleArgs+6].Value.(int)
		}
		row[6].Value = m.buf[start:end:end]
		for j := range row {
			row[j].Ordinal = j + 1
		}
		m.rows = append(m.rows, row)
	}
	return nil
}

// run is the write, on the writer goroutine. Without a document it runs
// without a savepoint of its own (writeBare): a compare-and-set miss
// writes nothing, and any other error dooms the transaction.
func (m *meterOp) run(wr *writer) error {
	if m.seq != 0 {
		v, found, err := wr.meterVersion(m.seq)
		if err != nil {
			return err
		}
		if !found || v != m.version {
			return unchanged(fmt.Errorf("%w: session %d is not at meter version %d", charging.ErrConflict, m.seq, m.version))
		}
	}
	if m.doc != nil {
		if err := wr.putDoc(m.doc); err != nil {
			return err
		}
	}
	if m.seq != 0 {
		wr.jr.add(m.seq, m.version+1, m.rec, m.body, m.n)
		return nil
	}
	for _, nv := range m.rows {
		if _, err := wr.execArgs(wr.insertSample, nv); err != nil {
			return err
		}
	}
	return nil
}

// StopSession ends the session of r.TransactionID on r.ChargerID as
// charging.ApplyStop says (meter stop, reason, end time, final status, and
// the stop reading as the last register when it is plausible; a session
// already stopped is returned unchanged, one that ended otherwise keeps
// its status). ErrNotFound when the charger has no session with that
// transaction id.
func (s *Store) StopSession(ctx context.Context, r charging.StopSession) (charging.Session, error) {
	if r.EndedAt.IsZero() {
		r.EndedAt = r.ReceivedAt
	}
	var te timeEnc
	ended, received := te.t(r.EndedAt), te.t(r.ReceivedAt)
	if te.err != nil {
		return charging.Session{}, fmt.Errorf("stop transaction %s: %w", r.TransactionID, te.err)
	}
	var sess charging.Session
	err := s.write(ctx, func(w *writer) error {
		cur, seq, err := oneSession(w.queryRow(w.sessionByTx, r.ChargerID, r.TransactionID))
		if err != nil {
			return err
		}
		// The core's rule (a repeated stop changes nothing; a session
		// that ended otherwise keeps its status), applied in the write's
		// own transaction: nothing can come between the read and the
		// write.
		out, changed, _, err := charging.ApplyStop(cur, r)
		if err != nil || !changed {
			sess = cur
			return err
		}
		// Flags are not kept with a session (its violations are): what
		// the stop's reading had wrong is the Service's to record.
		out.Flags = cur.Flags
		cur = out
		if err := w.run(w.stopSession, string(cur.Status), r.MeterStopWh, r.Reason, ended, seq); err != nil {
			return err
		}
		if err := w.run(w.stopMeter, cur.LastRegisterWh, received, seq); err != nil {
			return err
		}
		cur.MeterVersion++
		if err := w.sessionChanged(seq, r.ReceivedAt); err != nil {
			return err
		}
		sess = cur
		return nil
	})
	if err != nil {
		return charging.Session{}, fmt.Errorf("stop transaction %s: %w", r.TransactionID, err)
	}
	return sess, nil
}

// GetSession returns a session by id, or ErrNotFound.
func (s *Store) GetSession(ctx context.Context, id string) (charging.Session, error) {
	sess, _, err := s.oneSession(s.r.getSession.QueryRowContext(ctx, id))
	if err != nil {
		return charging.Session{}, fmt.Errorf("get session %s: %w", id, err)
	}
	return sess, nil
}

// SessionByTransaction returns the charger's session with the transaction
// id, or ErrNotFound.
func (s *Store) SessionByTransaction(ctx context.Context, chargerID, transactionID string) (charging.Session, error) {
	sess, _, err := s.oneSession(s.r.sessionByTx.QueryRowContext(ctx, chargerID, transactionID))
	if err != nil {
		return charging.Session{}, fmt.Errorf("session of transaction %s of %s: %w", transactionID, chargerID, err)
	}
	return sess, nil
}

// ActiveSessionForTag returns the newest open (pending, active or stopping)
// session of an id tag, or ErrNotFound.
func (s *Store) ActiveSessionForTag(ctx context.Context, idTag string) (charging.Session, error) {
	sess, _, err := s.oneSession(s.r.activeForTag.QueryRowContext(ctx, idTag))
	if err != nil {
		return charging.Session{}, fmt.Errorf("active session of %s: %w", idTag, err)
	}
	return sess, nil
}

// Page sizes of ListSessions.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// ListSessions returns a page of sessions, newest first, and the cursor of
// the next page ("" on the last page). Limit defaults to DefaultListLimit
// and is capped at MaxListLimit. Pages follow an internal sequence, so
// sessions started while paging never shift later pages. A cursor this store
// did not hand out is ErrInvalidInput.
func (s *Store) ListSessions(ctx context.Context, f charging.SessionFilter) ([]charging.Session, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	before := int64(1<<63 - 1)
	if f.Cursor != "" {
		n, err := charging.DecodeCursor(f.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list sessions: %w", err)
		}
		before = n
	}
	i := 0
	if f.Status != "" {
		i |= 1
	}
	if f.ChargerID != "" {
		i |= 2
	}
	rows, err := s.r.listSessions[i].QueryContext(ctx, before, string(f.Status), f.ChargerID, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	out := make([]charging.Session, 0, min(limit, 64))
	var next string
	var lastSeq int64
	for rows.Next() {
		sess, seq, err := scanSession(rows)
		s.overlay.apply(&sess)
		if err != nil {
			return nil, "", fmt.Errorf("list sessions: %w", err)
		}
		if len(out) == limit {
			next = charging.EncodeCursor(lastSeq)
			break
		}
		out = append(out, sess)
		lastSeq = seq
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list sessions: %w", err)
	}
	return out, next, nil
}

// SessionSamples returns a session's meter samples in time order (samples
// with the same timestamp in the order they were stored), or ErrNotFound
// for an unknown session. It reads meter_samples, the session's segments
// and the journal in one snapshot (journal.go).
func (s *Store) SessionSamples(ctx context.Context, sessionID string) ([]charging.MeterSample, error) {
	out, err := s.sessionSamples(ctx, sessionID)
	if err != nil {
		return nil, fmt.Errorf("samples of session %s: %w", sessionID, err)
	}
	return out, nil
}

func (s *Store) sessionSamples(ctx context.Context, sessionID string) ([]charging.MeterSample, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var seq int64
	if err := tx.StmtContext(ctx, s.r.sessionSeq).QueryRowContext(ctx, sessionID).Scan(&seq); errors.Is(err, sql.ErrNoRows) {
		return nil, charging.ErrNotFound
	} else if err != nil {
		return nil, err
	}
	var ks []keyedSample
	rows, err := tx.StmtContext(ctx, s.r.samples).QueryContext(ctx, seq)
	if err != nil {
		return nil, err
	}
	for i := int64(0); rows.Next(); i++ {
		var ts sql.NullInt64
		var vals, vbin []byte
		if err := rows.Scan(&ts, &vals, &vbin); err != nil {
			rows.Close()
			return nil, err
		}
		var vs []charging.SampledValue
		if vbin != nil {
			vs, err = decodeBinaryValues(vbin)
		} else {
			vs, err = decodeValues(vals)
		}
		if err != nil {
			rows.Close()
			return nil, err
		}
		ks = append(ks, keyedSample{MeterSample: charging.MeterSample{Timestamp: decTime(ts), Values: vs}, hasTS: ts.Valid, row: i})
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	var upto int64
	rows, err = tx.StmtContext(ctx, s.r.segments).QueryContext(ctx, seq)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&upto, &body); err != nil {
			rows.Close()
			return nil, err
		}
		if ks, err = decodeJournalBody(ks, body, 1, upto); err != nil {
			rows.Close()
			return nil, err
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	// The journal's ids run without gaps from the oldest row not deleted
	// by a round to the newest (journal.go).
	var lo, hi sql.NullInt64
	if err := tx.StmtContext(ctx, s.r.journalRange).QueryRowContext(ctx).Scan(&lo, &hi); err != nil {
		return nil, err
	}
	var rowStmt *sql.Stmt
	for id := max(upto+1, lo.Int64); hi.Valid && id <= hi.Int64; id++ {
		row := s.journal.get(id)
		if row == nil {
			if rowStmt == nil {
				rowStmt = tx.StmtContext(ctx, s.r.journalRow)
			}
			var body []byte
			if err := rowStmt.QueryRowContext(ctx, id).Scan(&body); errors.Is(err, sql.ErrNoRows) {
				continue
			} else if err != nil {
				return nil, err
			}
			if row, err = parseCachedRow(body); err != nil {
				return nil, fmt.Errorf("journal row %d: %w", id, err)
			}
			s.journal.put(id, row)
		}
		err := row.of(seq, func(body []byte) error {
			var err error
			ks, err = decodeJournalBody(ks, body, 2, id)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("journal row %d: %w", id, err)
		}
	}
	return sortSamples(ks), nil
}
