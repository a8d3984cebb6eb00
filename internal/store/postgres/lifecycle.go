package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
	// sqlStartSession is the last statement of a start (after the connector
	// lock and the closing of what is still open on it). Unless the start
	// key is stored already (a retry, answered with the stored session and
	// created false), it takes over the charger's waiting session, if there
	// is one: a reservation on the connector (or connector 0) with the
	// start's reservation id (when it quotes none: one of its id tag, or of a
	// tag with the same parent, $11),
	// id, else a remote start of the id tag pending on the connector, else
	// one pending on connector 0. Otherwise it inserts a new session. The
	// transaction id is the start's own ($12, 2.0.1) or comes from nextval in
	// the same statement, in decimal (1.6), either way.
	//
	// Starts on other connectors may want the same remote start on
	// connector 0, under other connector locks: the row lock settles it.
	// SKIP LOCKED passes over a waiting session another start is taking
	// over, and the update's own conditions are checked again on the
	// newest row version, so a session taken over (or ended) since this
	// statement began is left alone and the start inserts a new one.
	sqlStartSession = `WITH prior AS (
		SELECT seq FROM sessions WHERE start_key = $2::text
	), waiting AS (
		SELECT seq FROM sessions
		WHERE charger_id = $3::text AND transaction_id IS NULL AND status IN ` + waitingStatuses + `
		AND NOT EXISTS (SELECT 1 FROM prior)
		AND ((status = ` + reservedStatus + ` AND connector_id IN ($4::integer, 0) AND (reservation_id = $7::bigint
			OR ($7::bigint IS NULL AND (id_tag = $5::text OR ($11::text <> '' AND (id_tag = $11::text
				OR id_tag IN (SELECT id FROM id_tags WHERE parent_id = $11::text)))))))
			OR (status = ` + pendingStatus + ` AND connector_id IN ($4::integer, 0) AND id_tag = $5::text))
		ORDER BY status = ` + reservedStatus + ` DESC, connector_id = $4::integer DESC, seq
		LIMIT 1
		FOR UPDATE SKIP LOCKED
	), took AS (
		UPDATE sessions SET start_key = $2::text, connector_id = $4::integer, transaction_id = coalesce($12::text, nextval('transaction_ids')::text),
			id_tag = $5::text, status = $6::text, reservation_id = coalesce($7::bigint, reservation_id),
			meter_start_wh = $8::bigint, last_register_wh = $8::bigint::double precision,
			started_at = $9::bigint, expires_at = NULL, last_updated = $10::bigint, event_seq = event_seq + 1,
			meter_version = meter_version + 1,
			evse_connector_id = $13::integer
		WHERE seq = (SELECT seq FROM waiting) AND transaction_id IS NULL AND status IN ` + waitingStatuses + `
		RETURNING true AS created, event_seq, ` + sessionCols + `
	), ins AS (
		INSERT INTO sessions (id, start_key, charger_id, connector_id, transaction_id, id_tag, status,
			reservation_id, meter_start_wh, last_register_wh, started_at, last_updated, event_seq, evse_connector_id)
		SELECT $1::text, $2::text, $3::text, $4::integer, coalesce($12::text, nextval('transaction_ids')::text), $5::text, $6::text,
			$7::bigint, $8::bigint, $8::bigint::double precision, $9::bigint, $10::bigint, 1, $13::integer
		WHERE NOT EXISTS (SELECT 1 FROM prior) AND NOT EXISTS (SELECT 1 FROM took)
		ON CONFLICT (start_key) DO NOTHING
		RETURNING true AS created, event_seq, ` + sessionCols + `
	), started AS (
		SELECT id, charger_id, transaction_id, event_seq, last_updated FROM took
		UNION ALL SELECT id, charger_id, transaction_id, event_seq, last_updated FROM ins
	), ev AS (` + sqlSessionEventsFrom + `started` + `)
	SELECT created, ` + sessionCols + ` FROM took
	UNION ALL SELECT created, ` + sessionCols + ` FROM ins
	UNION ALL SELECT false, ` + sessionCols + ` FROM sessions WHERE seq IN (SELECT seq FROM prior)`

	sqlCreateSession = `WITH i AS (
		INSERT INTO sessions (id, charger_id, connector_id, transaction_id, id_tag, status,
			reservation_id, meter_start_wh, meter_stop_wh, last_register_wh, max_power_kw, last_power_kw, soc,
			started_at, ended_at, stop_reason, expires_at, last_updated, event_seq)
		VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 1)
		RETURNING id, charger_id, transaction_id, event_seq, last_updated
	) ` + sqlSessionEventsFrom + `i`

	// sqlUpdateStatus moves a session whose status is one of $2; a final
	// status ($5) also sets the end time and the stop reason.
	sqlUpdateStatus = `WITH u AS (
		UPDATE sessions SET status = $3, last_updated = $4::bigint,
			ended_at = CASE WHEN $5::boolean THEN $4::bigint ELSE ended_at END,
			stop_reason = CASE WHEN $5::boolean THEN $6::text ELSE stop_reason END,
			event_seq = event_seq + 1, meter_version = meter_version + 1
		WHERE id = $1 AND status = ANY($2::text[])
		RETURNING event_seq, ` + sessionCols + `
	), ev AS (` + sqlSessionEventsFrom + `u` + `)
	SELECT ` + sessionCols + ` FROM u`
	sqlSessionStatus = `SELECT status FROM sessions WHERE id = $1`
)

// isUniqueViolation reports whether err is a violation of the unique
// constraint or index named constraint.
func isUniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}

// CreateSession stores a session that has no transaction yet: a reserved
// or a pending one, with no TransactionID (stored as NULL). ErrExists when
// the id is taken; ErrInvalidInput for another status or a transaction id.
func (s *Store) CreateSession(ctx context.Context, x charging.Session) error {
	if x.TransactionID != "" {
		return fmt.Errorf("create session %s: %w: it has transaction %s; StartSession stores sessions with a transaction", x.ID, charging.ErrInvalidInput, x.TransactionID)
	}
	if x.Status != charging.SessionReserved && x.Status != charging.SessionPending {
		return fmt.Errorf("create session %s: %w: status %q; only reserved and pending sessions exist before a transaction", x.ID, charging.ErrInvalidInput, x.Status)
	}
	if x.ID == "" {
		return fmt.Errorf("create session: %w: empty id", charging.ErrInvalidInput)
	}
	var te timeEnc
	started, ended, expires, updated := te.t(x.StartedAt), te.p(x.EndedAt), te.p(x.ExpiresAt), te.t(x.LastUpdated)
	if te.err != nil {
		return fmt.Errorf("create session %s: %w", x.ID, te.err)
	}
	register := x.LastRegisterWh
	if register == 0 {
		register = float64(x.MeterStartWh)
	}
	_, err := s.pool.Exec(ctx, sqlCreateSession, x.ID, x.ChargerID, x.ConnectorID, x.IDTag, string(x.Status),
		x.ReservationID, x.MeterStartWh, x.MeterStopWh, register, x.MaxPowerKW, x.LastPowerKW, x.SoC,
		started, ended, x.StopReason, expires, updated)
	if isUniqueViolation(err, "sessions_id_key") {
		err = charging.ErrExists
	}
	if err != nil {
		return fmt.Errorf("create session %s: %w", x.ID, err)
	}
	s.eventsCommitted()
	return nil
}

// UpdateSessionStatus moves a session to status to if its status is one of
// from; see charging.LifecycleStore. The check and the change are one
// statement, so of two concurrent moves from the same status one wins and
// the other gets ErrConflict.
func (s *Store) UpdateSessionStatus(ctx context.Context, id string, from []charging.SessionStatus, to charging.SessionStatus, at time.Time, reason string) (charging.Session, error) {
	if !to.Valid() {
		return charging.Session{}, fmt.Errorf("update session %s: %w: status %q", id, charging.ErrInvalidInput, to)
	}
	fromText := make([]string, len(from))
	for i, f := range from {
		fromText[i] = string(f)
	}
	when, err := encTime(at)
	if err != nil {
		return charging.Session{}, fmt.Errorf("update session %s: %w", id, err)
	}
	sess, err := oneSession(s.pool.QueryRow(ctx, sqlUpdateStatus, id, fromText, string(to), when, to.Final(), reason))
	if errors.Is(err, charging.ErrNotFound) {
		// Unknown, or in another status: the status says which.
		var cur string
		err = s.pool.QueryRow(ctx, sqlSessionStatus, id).Scan(&cur)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			err = charging.ErrNotFound
		case err == nil:
			err = fmt.Errorf("%w: status is %s, not one of %v", charging.ErrConflict, cur, fromText)
		}
	}
	if err != nil {
		return charging.Session{}, fmt.Errorf("update session %s to %s: %w", id, to, err)
	}
	s.eventsCommitted()
	return sess, nil
}
