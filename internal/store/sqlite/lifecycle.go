package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/sqlstatus"
)

var _ charging.FullStore = (*Store)(nil)

// The statuses of sessions a start takes over (the state machine's
// StartAccepted), and of each kind: a reservation, a pending remote start.
var (
	waitingStatuses = sqlstatus.List(charging.StatusesFrom(charging.StartAccepted)...)
	reservedStatus  = sqlstatus.One(charging.SessionReserved)
	pendingStatus   = sqlstatus.One(charging.SessionPending)
)

var (
	// sqlCreateSession stores a session without a transaction: its
	// transaction_id is NULL, so it does not collide with any other.
	sqlCreateSession = `INSERT INTO sessions (id, start_key, charger_id, connector_id, transaction_id, id_tag, status,
	reservation_id, meter_start_wh, meter_stop_wh, started_at, ended_at, stop_reason, expires_at)
	VALUES (?, NULL, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
	sqlCreateMeter = `INSERT INTO session_meter (seq, last_register_wh, max_power_kw, last_power_kw, soc, last_updated)
	VALUES (last_insert_rowid(), ?, ?, ?, ?, ?)`

	sqlSessionBySeq = `SELECT ` + sessionCols + sessionFrom + ` WHERE s.seq = ?`
	sqlSetStatus    = `UPDATE sessions SET status = ?1,
	ended_at = CASE WHEN ?2 THEN ?3 ELSE ended_at END,
	stop_reason = CASE WHEN ?2 THEN ?4 ELSE stop_reason END
	WHERE seq = ?5`
	sqlTouchMeter = `UPDATE session_meter SET last_updated = ?, version = version + 1 WHERE seq = ?`

	// sqlWaitingFor finds the session a StartTransaction (?2 connector, ?3
	// reservation id or NULL, ?4 id tag, ?5 its parent id tag or '') takes
	// over: the reserved session of its reservation (when it quotes none: a
	// reservation of its id tag, or of a tag with the same parent), else the oldest pending session of its id tag on
	// its connector, else one on connector 0. A reservation may be for
	// connector 0 too (OCPP 1.6 ReserveNow: any connector); its id names it.
	// A session that has a transaction is never taken over. (The unary +
	// keeps the planner off the transaction_id index, where every waiting
	// session sits under NULL.)
	sqlWaitingFor = `SELECT seq FROM sessions
	WHERE charger_id = ?1 AND connector_id IN (?2, 0) AND status IN ` + waitingStatuses + ` AND +transaction_id IS NULL
	AND ((status = ` + reservedStatus + ` AND (reservation_id = ?3 OR (?3 IS NULL AND (id_tag = ?4
		OR (?5 <> '' AND (id_tag = ?5 OR id_tag IN (SELECT id FROM id_tags WHERE parent_id = ?5)))))))
		OR (status = ` + pendingStatus + ` AND id_tag = ?4))
	ORDER BY status = ` + reservedStatus + ` DESC, connector_id = ?2 DESC, seq LIMIT 1`
	// sqlTakeOver and sqlTakeOverMeter make the session found by
	// sqlWaitingFor the StartTransaction's: it keeps its id and, when the
	// start names none, its reservation id.
	sqlTakeOver = `UPDATE sessions SET start_key = ?, connector_id = ?, transaction_id = ?, id_tag = ?, status = ?,
	reservation_id = coalesce(?, reservation_id), meter_start_wh = ?, started_at = ?, expires_at = NULL,
	evse_connector_id = ? WHERE seq = ?`
	sqlTakeOverMeter = `UPDATE session_meter SET last_register_wh = ?, max_power_kw = 0, last_power_kw = NULL,
	last_power_at = NULL, soc = NULL, soc_at = NULL, last_updated = ?, version = version + 1 WHERE seq = ?`
)

// lifecycleStmts are the writer's statements for sessions without a
// transaction.
type lifecycleStmts struct {
	createSession, createMeter, sessionByID, sessionBySeq, setStatus, touchMeter driver.Stmt
	waitingFor, takeOver, takeOverMeter                                          driver.Stmt
	putDoc, putDocBody, deleteDoc                                                driver.Stmt
}

// prepare prepares the statements with p, the writer's preparer, which
// keeps the first error.
func (l *lifecycleStmts) prepare(p func(string) driver.Stmt) {
	l.createSession = p(sqlCreateSession)
	l.createMeter = p(sqlCreateMeter)
	l.sessionByID = p(sqlGetSession)
	l.sessionBySeq = p(sqlSessionBySeq)
	l.setStatus = p(sqlSetStatus)
	l.touchMeter = p(sqlTouchMeter)
	l.waitingFor = p(sqlWaitingFor)
	l.takeOver = p(sqlTakeOver)
	l.takeOverMeter = p(sqlTakeOverMeter)
	l.putDoc = p(sqlPutDoc)
	l.putDocBody = p(sqlPutDocBody)
	l.deleteDoc = p(sqlDeleteDoc)
}

// CreateSession stores a session that has no transaction yet: a
// reservation or a pending remote start. ErrExists when the id is taken;
// ErrInvalidInput for a session with a transaction id (StartSession
// allocates those), without an id, or neither reserved nor pending.
func (s *Store) CreateSession(ctx context.Context, sess charging.Session) error {
	switch {
	case sess.ID == "":
		return fmt.Errorf("create session: %w: no id", charging.ErrInvalidInput)
	case sess.TransactionID != "":
		return fmt.Errorf("create session %s: %w: transaction id %s given; StartSession stores sessions with a transaction",
			sess.ID, charging.ErrInvalidInput, sess.TransactionID)
	case sess.Status != charging.SessionReserved && sess.Status != charging.SessionPending:
		return fmt.Errorf("create session %s: %w: status %q; only reserved and pending sessions exist before a transaction",
			sess.ID, charging.ErrInvalidInput, sess.Status)
	}
	var te timeEnc
	args := []any{sess.ID, sess.ChargerID, sess.ConnectorID, sess.IDTag, string(sess.Status), nullInt(sess.ReservationID),
		sess.MeterStartWh, nullInt(sess.MeterStopWh), te.t(sess.StartedAt), te.p(sess.EndedAt), sess.StopReason, te.p(sess.ExpiresAt)}
	meter := []any{sess.LastRegisterWh, sess.MaxPowerKW, nullFloat(sess.LastPowerKW), nullFloat(sess.SoC), te.t(sess.LastUpdated)}
	if te.err != nil {
		return fmt.Errorf("create session %s: %w", sess.ID, te.err)
	}
	err := s.write(ctx, func(w *writer) error {
		n, err := w.exec(w.lc.createSession, args...)
		if err != nil {
			return err
		}
		if n == 0 {
			return charging.ErrExists
		}
		if err := w.run(w.lc.createMeter, meter...); err != nil {
			return err
		}
		var seq int64
		if err := w.queryRow(w.lastRowID).Scan(&seq); err != nil {
			return err
		}
		return w.sessionChanged(seq, sess.LastUpdated)
	})
	if err != nil {
		return fmt.Errorf("create session %s: %w", sess.ID, err)
	}
	return nil
}

// UpdateSessionStatus moves a session to status to if its status is one of
// from; a final status also sets EndedAt to at and StopReason to reason.
// LastUpdated becomes at. ErrNotFound when no session has the id,
// ErrConflict when its status is not one of from.
func (s *Store) UpdateSessionStatus(ctx context.Context, id string, from []charging.SessionStatus, to charging.SessionStatus, at time.Time, reason string) (charging.Session, error) {
	if !to.Valid() {
		return charging.Session{}, fmt.Errorf("update session %s: %w: status %q", id, charging.ErrInvalidInput, to)
	}
	enc, err := encTime(at)
	if err != nil {
		return charging.Session{}, fmt.Errorf("update session %s: %w", id, err)
	}
	from = slices.Clone(from)
	var sess charging.Session
	err = s.write(ctx, func(w *writer) error {
		cur, seq, err := oneSession(w.queryRow(w.lc.sessionByID, id))
		if err != nil {
			return err
		}
		if !slices.Contains(from, cur.Status) {
			return fmt.Errorf("%w: status is %s, not one of %v", charging.ErrConflict, cur.Status, from)
		}
		final := to.Final()
		if err := w.run(w.lc.setStatus, string(to), final, enc, reason, seq); err != nil {
			return err
		}
		if err := w.run(w.lc.touchMeter, enc, seq); err != nil {
			return err
		}
		if err := w.sessionChanged(seq, at); err != nil {
			return err
		}
		cur.Status = to
		if final {
			cur.EndedAt, cur.StopReason = nil, reason
			if !at.IsZero() {
				t := at
				cur.EndedAt = &t
			}
		}
		cur.LastUpdated = at
		cur.MeterVersion++
		sess = cur
		return nil
	})
	if err != nil {
		return charging.Session{}, fmt.Errorf("update session %s to %s: %w", id, to, err)
	}
	return sess, nil
}

// waitingFor finds the reserved or pending session that r takes over (see
// sqlWaitingFor); found is false when there is none.
func (w *writer) waitingFor(r *charging.StartSession) (seq int64, found bool, err error) {
	err = w.queryRow(w.lc.waitingFor, r.ChargerID, r.ConnectorID, nullInt(r.ReservationID), r.IDTag, r.ParentIDTag).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return seq, err == nil, err
}

// takeOver gives the session at seq the transaction tx of r and returns
// it. It runs in StartSession's write operation, so the take-over commits
// with the allocation of tx or not at all.
func (w *writer) takeOver(seq int64, r *charging.StartSession, tx string, started, received any) (charging.Session, error) {
	err := w.run(w.lc.takeOver, nullString(r.StartKey), r.ConnectorID, tx, r.IDTag, string(r.Status),
		nullInt(r.ReservationID), r.MeterStartWh, started, r.EVSEConnectorID, seq)
	if err != nil {
		return charging.Session{}, err
	}
	if err := w.run(w.lc.takeOverMeter, float64(r.MeterStartWh), received, seq); err != nil {
		return charging.Session{}, err
	}
	sess, _, err := oneSession(w.queryRow(w.lc.sessionBySeq, seq))
	return sess, err
}
