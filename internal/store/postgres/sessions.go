package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/sampled"
	"github.com/chargebridge/chargebridge/internal/store/sqlstatus"
)

const sessionCols = `seq, id, charger_id, connector_id, transaction_id, id_tag, status, reservation_id,
	meter_start_wh, meter_stop_wh, last_register_wh, max_power_kw, last_power_kw, soc,
	started_at, ended_at, stop_reason, last_updated, expires_at, meter_version, last_power_at, soc_at, evse_connector_id`

// The statuses the queries select by come from the core (package
// sqlstatus): openStatuses hold their id tag; a later start supersedes the
// sessions in supersedable on its connector, which then take superseded. A
// stop's status is the core's (charging.ApplyStop).
var (
	openStatuses = sqlstatus.List(charging.OpenStatuses...)
	supersedable = sqlstatus.List(charging.StatusesFrom(charging.Superseded)...)
	superseded   = sqlstatus.One(charging.SupersededStatus())
)

var (
	sqlGetSession   = `SELECT ` + sessionCols + ` FROM sessions WHERE id = $1`
	sqlSessionByKey = `SELECT ` + sessionCols + ` FROM sessions WHERE start_key = $1`
	sqlActiveForTag = `SELECT ` + sessionCols + ` FROM sessions
	WHERE id_tag = $1 AND status IN ` + openStatuses + ` ORDER BY seq DESC LIMIT 1`
	// sqlSessionByTxCharger is the charger's ($1) session of transaction
	// $2 (unique per charger, sessions_charger_transaction).
	sqlSessionByTxCharger = `SELECT ` + sessionCols + ` FROM sessions
	WHERE charger_id = $1 AND transaction_id = $2`

	// A start is three statements sent as one pipelined batch, which the
	// server runs as one implicit transaction: lock the connector, close
	// the sessions with a transaction still open on it, then take over a
	// waiting session or insert a new one (sqlStartSession, lifecycle.go).
	// Both writes do nothing when the start key is already stored (a retry).
	sqlLockConnector = `SELECT pg_advisory_xact_lock($1)`
	sqlCloseOpen     = `WITH c AS (
		UPDATE sessions SET status = ` + superseded + `, ended_at = coalesce(ended_at, $1), last_updated = $1, event_seq = event_seq + 1,
		meter_version = meter_version + 1
		WHERE charger_id = $2 AND connector_id = $3 AND status IN ` + supersedable + ` AND transaction_id IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM sessions WHERE start_key = $4)
		RETURNING id, charger_id, transaction_id, event_seq, last_updated
	) ` + sqlSessionEventsFrom + `c`

	// sqlStopSession writes a stop as the core applied it (ApplyStop) to
	// the session read (and locked) before, by primary key over the meter
	// version that read saw.
	sqlStopSession = `WITH u AS (
		UPDATE sessions SET status = $1, meter_stop_wh = $2::bigint, last_register_wh = $3, stop_reason = $4,
		ended_at = $5, last_updated = $6, event_seq = event_seq + 1, meter_version = meter_version + 1
		WHERE seq = $7 AND meter_version = $8 AND meter_stop_wh IS NULL
		RETURNING id, charger_id, transaction_id, event_seq, last_updated
	) ` + sqlSessionEventsFrom + `u`

	// sqlSessionSamples reads the sampled values of a sample in vbin, or
	// in vals (JSON) for one written before migration 0015.
	sqlSessionSamples = `SELECT s.seq, m.id, m.ts, m.vals::text, m.vbin FROM sessions s
	LEFT JOIN meter_samples m ON m.session_seq = s.seq
	WHERE s.id = $1 ORDER BY m.ts ASC NULLS FIRST, m.id`
)

// sqlListSessions is indexed by filter: bit 0 status, bit 1 charger.
var sqlListSessions = func() (q [4]string) {
	for i := range q {
		s := `SELECT ` + sessionCols + ` FROM sessions WHERE seq < $1`
		if i&1 != 0 {
			s += ` AND status = $2`
		} else {
			s += ` AND $2::text IS NOT NULL`
		}
		if i&2 != 0 {
			s += ` AND charger_id = $3`
		} else {
			s += ` AND $3::text IS NOT NULL`
		}
		q[i] = s + ` ORDER BY seq DESC LIMIT $4`
	}
	return q
}()

// scanSession reads a row of sessionCols (after any columns in pre).
func scanSession(row pgx.Row, pre ...any) (charging.Session, int64, error) {
	var (
		s                                    charging.Session
		seq                                  int64
		connector, evseConn                  int32
		tx                                   *string
		reservation, meterStop               *int64
		lastPower, soc                       *float64
		started, ended, lastUpdated, expires *int64
		powerAt, socAt                       *int64
	)
	dest := append(pre, &seq, &s.ID, &s.ChargerID, &connector, &tx, &s.IDTag, &s.Status, &reservation,
		&s.MeterStartWh, &meterStop, &s.LastRegisterWh, &s.MaxPowerKW, &lastPower, &soc,
		&started, &ended, &s.StopReason, &lastUpdated, &expires, &s.MeterVersion, &powerAt, &socAt, &evseConn)
	if err := row.Scan(dest...); err != nil {
		return charging.Session{}, 0, err
	}
	if tx != nil { // NULL: no transaction yet
		s.TransactionID = *tx
	}
	s.ExpiresAt = decTimePtr(expires)
	s.ConnectorID, s.EVSEConnectorID = int(connector), int(evseConn)
	s.ReservationID, s.MeterStopWh = reservation, meterStop
	s.LastPowerKW, s.SoC = lastPower, soc
	s.StartedAt, s.EndedAt, s.LastUpdated = decTime(started), decTimePtr(ended), decTime(lastUpdated)
	if lastPower != nil {
		s.LastPowerAt = decTimePtr(powerAt)
	}
	if soc != nil {
		s.SoCAt = decTimePtr(socAt)
	}
	s.Seq = seq
	return s, seq, nil
}

// oneSession reads one session, ErrNotFound when there is none.
func oneSession(row pgx.Row, pre ...any) (charging.Session, error) {
	s, _, err := scanSession(row, pre...)
	if errors.Is(err, pgx.ErrNoRows) {
		err = charging.ErrNotFound
	}
	return s, err
}

// StartSession stores a session for a StartTransaction; see
// charging.SessionStore. Unless the start names its own (2.0.1), the
// transaction id comes from the transaction_ids sequence, so it is never
// handed out twice, by any process, also across restarts; a number the
// charger already has as an id of its own is skipped. Starts on one connector take turns on an advisory lock. A
// reserved or pending session the start matches is taken over (see
// sqlStartSession).
func (s *Store) StartSession(ctx context.Context, r charging.StartSession) (sess charging.Session, created bool, err error) {
	var te timeEnc
	started, received := te.t(r.StartedAt), te.t(r.ReceivedAt)
	if te.err != nil {
		return charging.Session{}, false, fmt.Errorf("start session at %s/%d: %w", r.ChargerID, r.ConnectorID, te.err)
	}
	if !r.Status.Valid() {
		return charging.Session{}, false, fmt.Errorf("start session at %s/%d: %w: status %q", r.ChargerID, r.ConnectorID, charging.ErrInvalidInput, r.Status)
	}
	for tries := 0; ; tries++ {
		sess, created, err = s.startSession(ctx, r, started, received)
		// A drawn number the charger already has as a transaction id of
		// its own (it ran OCPP 2.0.1 and named one "7"): the batch rolled
		// back, the sequence did not; the next try draws the next number.
		if r.TransactionID == "" && errors.Is(err, charging.ErrExists) && tries < maxDrawTries {
			continue
		}
		return sess, created, err
	}
}

// maxDrawTries bounds the numbers a start draws past those its charger
// already has as transaction ids (see StartSession).
const maxDrawTries = 100

func (s *Store) startSession(ctx context.Context, r charging.StartSession, started, received *int64) (sess charging.Session, created bool, err error) {
	key := nullString(r.StartKey)
	b := &pgx.Batch{}
	b.Queue(sqlLockConnector, s.connectorLock(r.ChargerID, r.ConnectorID))
	b.Queue(sqlCloseOpen, received, r.ChargerID, r.ConnectorID, key)
	b.Queue(sqlStartSession, r.ID, key, r.ChargerID, r.ConnectorID, r.IDTag, string(r.Status),
		r.ReservationID, r.MeterStartWh, started, received, r.ParentIDTag, nullString(r.TransactionID), r.EVSEConnectorID)
	br := s.pool.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		sess, err = oneSession(br.QueryRow(), &created)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if key != nil && (errors.Is(err, charging.ErrNotFound) || isUniqueViolation(err, "sessions_start_key_key")) {
		// The key was stored by a start that committed after this
		// statement began (one with the same key on another connector).
		sess, err = oneSession(s.pool.QueryRow(ctx, sqlSessionByKey, key))
		created = false
	}
	if isUniqueViolation(err, "sessions_charger_transaction") {
		err = fmt.Errorf("%w: %s already has transaction %s", charging.ErrExists, r.ChargerID, r.TransactionID)
	}
	if err != nil {
		return charging.Session{}, false, fmt.Errorf("start session at %s/%d: %w", r.ChargerID, r.ConnectorID, err)
	}
	s.eventsCommitted()
	return sess, created, nil
}

// WriteMeterValues stores one row per sample, attached to the session with
// primary key w.Seq (none when 0), and writes w.Meter over w.Version; see
// charging.SessionStore. Concurrent calls share statements and commits
// (see meter.go); each returns once its own samples are committed.
func (s *Store) WriteMeterValues(ctx context.Context, w charging.MeterWrite) (err error) {
	op := meterOpPool.Get().(*meterOp)
	defer func() {
		// The buffer of the sampled values is kept for the next use.
		*op = meterOp{done: op.done, buf: op.buf[:0]}
		meterOpPool.Put(op)
	}()
	if err := op.encode(&w); err != nil {
		return fmt.Errorf("meter values of %s: %w", w.ChargerID, err)
	}
	switch {
	case w.Doc != nil:
		err = s.writeWithDoc(ctx, op, *w.Doc)
	case s.meter != nil:
		err = s.meter.do(ctx, op)
	default:
		if err = s.writeOne(ctx, s.pool, op); err == nil {
			err = op.result()
		}
	}
	if err != nil {
		return fmt.Errorf("meter values of %s: %w", w.ChargerID, err)
	}
	return nil
}

// encode fills op from w: the samples' rows and the folded meter. This
// runs in the caller's goroutine, so writers only run SQL.
func (op *meterOp) encode(w *charging.MeterWrite) error {
	var err error
	op.seq, op.version = w.Seq, w.Version
	op.tx, op.charger, op.connector = w.TransactionID, w.ChargerID, int32(w.ConnectorID)
	if op.received, err = encTime(w.ReceivedAt); err != nil {
		return err
	}
	op.ts, op.vals = make([]*int64, len(w.Samples)), make([][]byte, len(w.Samples))
	for i := range w.Samples {
		if op.ts[i], err = encTime(w.Samples[i].Timestamp); err != nil {
			return err
		}
		start := len(op.buf)
		if op.buf, err = sampled.Append(op.buf, w.Samples[i].Values); err != nil {
			return err
		}
		op.vals[i] = op.buf[start:len(op.buf):len(op.buf)]
	}
	if w.Seq == 0 {
		return nil
	}
	var te timeEnc
	m := &w.Meter
	op.register, op.maxPower, op.power, op.soc = m.LastRegisterWh, m.MaxPowerKW, m.LastPowerKW, m.SoC
	op.powerAt, op.socAt, op.updated = te.p(m.LastPowerAt), te.p(m.SoCAt), te.t(m.LastUpdated)
	return te.err
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
	// The core's rule (a repeated stop changes nothing; a session that
	// ended otherwise keeps its status) on the session as read. The row
	// is locked from the read to the write: a stop is rare, while meter
	// writes come back to back and would win every compare and set (they
	// miss and fold again instead).
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return charging.Session{}, fmt.Errorf("stop transaction %s: %w", r.TransactionID, err)
	}
	defer tx.Rollback(ctx)
	cur, err := oneSession(tx.QueryRow(ctx, sqlSessionByTxCharger+` FOR UPDATE`, r.ChargerID, r.TransactionID))
	if err != nil {
		return charging.Session{}, fmt.Errorf("stop transaction %s: %w", r.TransactionID, err)
	}
	out, changed, _, err := charging.ApplyStop(cur, r)
	if err != nil {
		return charging.Session{}, fmt.Errorf("stop transaction %s: %w", r.TransactionID, err)
	}
	if !changed {
		return cur, nil
	}
	// Flags are not kept with a session (its violations are): what the
	// stop's reading had wrong is the Service's to record.
	out.Flags = cur.Flags
	tag, err := tx.Exec(ctx, sqlStopSession, string(out.Status), r.MeterStopWh, out.LastRegisterWh, r.Reason,
		ended, received, cur.Seq, cur.MeterVersion)
	if err == nil && tag.RowsAffected() != 1 {
		err = fmt.Errorf("%w: session %d moved on under its lock", charging.ErrConflict, cur.Seq)
	}
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		return charging.Session{}, fmt.Errorf("stop transaction %s: %w", r.TransactionID, err)
	}
	s.eventsCommitted()
	out.MeterVersion++
	return out, nil
}

// GetSession returns a session by id, or ErrNotFound.
func (s *Store) GetSession(ctx context.Context, id string) (charging.Session, error) {
	sess, err := oneSession(s.pool.QueryRow(ctx, sqlGetSession, id))
	if err != nil {
		return charging.Session{}, fmt.Errorf("get session %s: %w", id, err)
	}
	return sess, nil
}

// SessionByTransaction returns the charger's session with the transaction
// id, or ErrNotFound.
func (s *Store) SessionByTransaction(ctx context.Context, chargerID, transactionID string) (charging.Session, error) {
	sess, err := oneSession(s.pool.QueryRow(ctx, sqlSessionByTxCharger, chargerID, transactionID))
	if err != nil {
		return charging.Session{}, fmt.Errorf("session of transaction %s of %s: %w", transactionID, chargerID, err)
	}
	return sess, nil
}

// ActiveSessionForTag returns the newest open (pending, active or stopping)
// session of an id tag, or ErrNotFound.
func (s *Store) ActiveSessionForTag(ctx context.Context, idTag string) (charging.Session, error) {
	sess, err := oneSession(s.pool.QueryRow(ctx, sqlActiveForTag, idTag))
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
	rows, err := s.pool.Query(ctx, sqlListSessions[i], before, string(f.Status), f.ChargerID, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	out := make([]charging.Session, 0, min(limit, 64))
	var next string
	var lastSeq int64
	for rows.Next() {
		sess, seq, err := scanSession(rows)
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
// for an unknown session.
func (s *Store) SessionSamples(ctx context.Context, sessionID string) ([]charging.MeterSample, error) {
	rows, err := s.pool.Query(ctx, sqlSessionSamples, sessionID)
	if err != nil {
		return nil, fmt.Errorf("samples of session %s: %w", sessionID, err)
	}
	defer rows.Close()
	var out []charging.MeterSample
	found := false
	for rows.Next() {
		var (
			seq        int64
			id         *int64
			ts         *int64
			vals, vbin []byte
		)
		if err := rows.Scan(&seq, &id, &ts, &vals, &vbin); err != nil {
			return nil, fmt.Errorf("samples of session %s: %w", sessionID, err)
		}
		found = true
		if id == nil {
			continue // the session has no samples
		}
		var vs []charging.SampledValue
		if vbin != nil {
			vs, err = sampled.Decode(vbin)
		} else {
			vs, err = decodeValues(vals)
		}
		if err != nil {
			return nil, fmt.Errorf("samples of session %s: %w", sessionID, err)
		}
		out = append(out, charging.MeterSample{Timestamp: decTime(ts), Values: vs})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("samples of session %s: %w", sessionID, err)
	}
	if !found {
		return nil, fmt.Errorf("samples of session %s: %w", sessionID, charging.ErrNotFound)
	}
	return out, nil
}
