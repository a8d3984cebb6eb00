package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chargebridge/chargebridge/internal/charging"
)

const chargerCols = `c.id, c.registered, c.vendor, c.model, c.serial_number, c.firmware_version, c.iccid, c.imsi,
	c.meter_type, c.meter_serial, c.boot_status, c.strict_timestamps, c.last_boot_at, c.last_seen_at, c.created_at,
	` + connectorCols

// connectorCols are a connector's columns, k the connectors table.
const connectorCols = `k.connector_id, k.evse_connector_id, k.availability, k.state, k.status, k.error_code, k.info,
	k.vendor_id, k.vendor_error_code, k.status_at, k.updated_at, k.plug, k.cable`

const (
	sqlGetCharger = `SELECT ` + chargerCols + `
	FROM chargers c LEFT JOIN connectors k ON k.charger_id = c.id
	WHERE c.id = $1 ORDER BY k.connector_id, k.evse_connector_id`
	sqlListChargers = `SELECT ` + chargerCols + `
	FROM chargers c LEFT JOIN connectors k ON k.charger_id = c.id
	ORDER BY c.id, k.connector_id, k.evse_connector_id`
	// sqlListChargersAfter is a page of sqlListChargers: the chargers
	// after an id, by the primary key, then their connectors.
	sqlListChargersAfter = `SELECT ` + chargerCols + `
	FROM (SELECT * FROM chargers WHERE id > $1 ORDER BY id LIMIT $2) c LEFT JOIN connectors k ON k.charger_id = c.id
	ORDER BY c.id, k.connector_id, k.evse_connector_id`
	// sqlCreateCharger inserts the charger and, only when it was new, its
	// connectors (given as parallel arrays), in one statement.
	sqlCreateCharger = `WITH c AS (
		INSERT INTO chargers (id, registered, vendor, model, serial_number, firmware_version, iccid, imsi,
			meter_type, meter_serial, boot_status, strict_timestamps, last_boot_at, last_seen_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (id) DO NOTHING RETURNING id
	), k AS (
		INSERT INTO connectors (charger_id, connector_id, status, error_code, info, vendor_id, vendor_error_code, status_at, updated_at,
			evse_connector_id, availability, state)
		SELECT c.id, u.* FROM c, unnest($16::integer[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::bigint[], $23::bigint[],
			$24::integer[], $25::text[], $26::text[]) AS u
	)
	SELECT count(*) FROM c`
	// sqlRecordBoot also appends a ChargerChanged event in the same
	// statement; it affects one row (the event's) when the charger exists.
	sqlRecordBoot = `WITH u AS (
		UPDATE chargers SET vendor = $1, model = $2, serial_number = $3, firmware_version = $4, iccid = $5,
		imsi = $6, meter_type = $7, meter_serial = $8, boot_status = $9, last_boot_at = $10, last_seen_at = $10 WHERE id = $11
		RETURNING id
	) INSERT INTO event_log (id, session_id, seq, charger_id, kind, at, body)
	SELECT gen_random_uuid()::text, '', 0, id, '` + string(charging.ChargerChanged) + `', coalesce($10::bigint, 0), '{}'::jsonb FROM u`
	// sqlSetConnector keeps a stored status with a newer status_at. The
	// foreign key refuses a connector of an unknown charger. It returns
	// the row when the status is applied, none otherwise.
	sqlSetConnector = `INSERT INTO connectors AS k (charger_id, connector_id, evse_connector_id, availability, state, status,
		error_code, info, vendor_id, vendor_error_code, status_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (charger_id, connector_id, evse_connector_id) DO UPDATE SET availability = excluded.availability,
			state = excluded.state, status = excluded.status, error_code = excluded.error_code,
			info = excluded.info, vendor_id = excluded.vendor_id, vendor_error_code = excluded.vendor_error_code,
			status_at = excluded.status_at, updated_at = excluded.updated_at
		WHERE k.status_at IS NULL OR excluded.status_at >= k.status_at
		RETURNING charger_id`
	// sqlSetPlug stores a connector's plug, its status kept (Unknown for
	// a connector not heard from yet). The foreign key refuses a
	// connector of an unknown charger.
	sqlSetPlug = `INSERT INTO connectors (charger_id, connector_id, evse_connector_id, state, status, plug, cable)
		VALUES ($1, $2, $3, $4, $4, $5, $6)
		ON CONFLICT (charger_id, connector_id, evse_connector_id) DO UPDATE SET plug = excluded.plug, cable = excluded.cable`
	// sqlEVSEConnectors reads the connectors of one EVSE.
	sqlEVSEConnectors = `SELECT ` + connectorCols + ` FROM connectors k WHERE k.charger_id = $1 AND k.connector_id = $2`
	// sqlConnectorEvent appends the ConnectorChanged event of an applied
	// status (id $1, charger $2, time $3, body $4).
	sqlConnectorEvent = `INSERT INTO event_log (id, session_id, seq, charger_id, kind, at, body)
		VALUES ($1::text, '', 0, $2::text, '` + string(charging.ConnectorChanged) + `', coalesce($3::bigint, 0), $4::jsonb)`

	sqlGetTag   = `SELECT id, type, status, expires_at, parent_id, created_at FROM id_tags WHERE id = $1`
	sqlListTags = `SELECT id, type, status, expires_at, parent_id, created_at FROM id_tags ORDER BY id`
	sqlPutTag   = `INSERT INTO id_tags (id, type, status, expires_at, parent_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)
	ON CONFLICT (id) DO UPDATE SET type = excluded.type, status = excluded.status, expires_at = excluded.expires_at,
		parent_id = excluded.parent_id, created_at = excluded.created_at`

	sqlInsertEvent = `INSERT INTO events (charger_id, kind, payload, at) VALUES ($1, $2, $3, $4)`
	sqlListEvents  = `SELECT id, charger_id, kind, payload, at FROM events WHERE charger_id = $1 ORDER BY id DESC LIMIT $2`
)

// GetCharger returns the charger with its connectors (connector 0, the
// charger as a whole, included), or ErrNotFound.
func (s *Store) GetCharger(ctx context.Context, id string) (charging.Charger, error) {
	cs, err := s.queryChargers(ctx, sqlGetCharger, id)
	if err != nil {
		return charging.Charger{}, fmt.Errorf("get charger %s: %w", id, err)
	}
	if len(cs) == 0 {
		return charging.Charger{}, fmt.Errorf("get charger %s: %w", id, charging.ErrNotFound)
	}
	return cs[0], nil
}

// ListChargers returns every charger with its connectors, ordered by id.
func (s *Store) ListChargers(ctx context.Context) ([]charging.Charger, error) {
	cs, err := s.queryChargers(ctx, sqlListChargers)
	if err != nil {
		return nil, fmt.Errorf("list chargers: %w", err)
	}
	return cs, nil
}

// ListChargersAfter returns a page of chargers by id (see
// charging.ChargerStore).
func (s *Store) ListChargersAfter(ctx context.Context, after string, limit int) ([]charging.Charger, error) {
	cs, err := s.queryChargers(ctx, sqlListChargersAfter, after, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("list chargers after %q: %w", after, err)
	}
	return cs, nil
}

// queryChargers reads chargers joined with their connectors, one row per
// connector, ordered by charger.
func (s *Store) queryChargers(ctx context.Context, q string, args ...any) ([]charging.Charger, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []charging.Charger
	for rows.Next() {
		var (
			c                           charging.Charger
			lastBoot, lastSeen, created *int64
			k                           connectorRow
		)
		dest := append([]any{&c.ID, &c.Registered, &c.Vendor, &c.Model, &c.SerialNumber, &c.FirmwareVersion, &c.ICCID, &c.IMSI,
			&c.MeterType, &c.MeterSerial, &c.BootStatus, &c.StrictTimestamps, &lastBoot, &lastSeen, &created}, k.dest()...)
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ID != c.ID {
			c.LastBootAt, c.LastSeenAt, c.CreatedAt = decTimePtr(lastBoot), decTimePtr(lastSeen), decTime(created)
			c.Connectors = []charging.Connector{}
			out = append(out, c)
		}
		if k.connID != nil {
			last := &out[len(out)-1]
			last.Connectors = append(last.Connectors, k.connector(c.ID))
		}
	}
	for i := range out {
		out[i].Connectors = charging.GroupEVSEs(out[i].Connectors)
	}
	return out, rows.Err()
}

// SetConnectorPlug stores a connector's plug (see charging.ChargerStore).
func (s *Store) SetConnectorPlug(ctx context.Context, c charging.Connector) error {
	c = c.Row()
	_, err := s.pool.Exec(ctx, sqlSetPlug, c.ChargerID, c.ConnectorID, c.EVSEConnectorID, string(charging.StatusUnknown), string(c.Plug), c.Cable)
	if isForeignKeyViolation(err) {
		err = charging.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("set plug of %s/%d/%d: %w", c.ChargerID, c.ConnectorID, c.EVSEConnectorID, err)
	}
	return nil
}

// connectorRow scans connectorCols (nullable: the charger's LEFT JOIN).
type connectorRow struct {
	connID, evseConn                                     *int32
	statusAt, updatedAt                                  *int64
	avail, state, status, errCode, info, vid, verr, plug *string
	cable                                                *bool
}

func (k *connectorRow) dest() []any {
	return []any{&k.connID, &k.evseConn, &k.avail, &k.state, &k.status, &k.errCode, &k.info, &k.vid, &k.verr,
		&k.statusAt, &k.updatedAt, &k.plug, &k.cable}
}

// connector is the row's connector; a row stored with its status word
// only (none since 0011) has the split the word stands for.
func (k *connectorRow) connector(chargerID string) charging.Connector {
	cn := charging.Connector{
		ChargerID: chargerID, ConnectorID: int(*k.connID), Availability: charging.Availability(deref(k.avail)),
		State: charging.ConnectorState(deref(k.state)), Status: charging.ConnectorStatus(deref(k.status)),
		ErrorCode: deref(k.errCode), Info: deref(k.info), VendorID: deref(k.vid), VendorErrorCode: deref(k.verr),
		StatusAt: decTime(k.statusAt), UpdatedAt: decTime(k.updatedAt),
	}
	if k.evseConn != nil {
		cn.EVSEConnectorID = int(*k.evseConn)
	}
	cn.Plug = charging.PlugType(deref(k.plug))
	cn.Cable = k.cable != nil && *k.cable
	if cn.State == "" {
		cn.Availability, cn.State = cn.Status.Split()
	}
	return cn
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// CreateCharger adds a charger with its connectors; ErrExists when the id is
// taken.
func (s *Store) CreateCharger(ctx context.Context, c charging.Charger) error {
	var te timeEnc
	rows := charging.ConnectorRows(c.ID, c.Connectors)
	n := len(rows)
	var (
		ids, evseConns                            = make([]int32, n), make([]int32, n)
		statuses, codes, infos, vendors, vendErrs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		avails, states                            = make([]string, n), make([]string, n)
		statusAt, updatedAt                       = make([]*int64, n), make([]*int64, n)
	)
	for i, k := range rows {
		ids[i], statuses[i], codes[i], infos[i] = int32(k.ConnectorID), string(k.Status), k.ErrorCode, k.Info
		vendors[i], vendErrs[i], statusAt[i], updatedAt[i] = k.VendorID, k.VendorErrorCode, te.t(k.StatusAt), te.t(k.UpdatedAt)
		evseConns[i], avails[i], states[i] = int32(k.EVSEConnectorID), string(k.Availability), string(k.State)
	}
	args := []any{c.ID, c.Registered, c.Vendor, c.Model, c.SerialNumber, c.FirmwareVersion, c.ICCID, c.IMSI,
		c.MeterType, c.MeterSerial, string(c.BootStatus), c.StrictTimestamps, te.p(c.LastBootAt), te.p(c.LastSeenAt), te.t(c.CreatedAt),
		ids, statuses, codes, infos, vendors, vendErrs, statusAt, updatedAt, evseConns, avails, states}
	if te.err != nil {
		return fmt.Errorf("create charger %s: %w", c.ID, te.err)
	}
	var created int64
	if err := s.pool.QueryRow(ctx, sqlCreateCharger, args...).Scan(&created); err != nil {
		return fmt.Errorf("create charger %s: %w", c.ID, err)
	}
	if created == 0 {
		return fmt.Errorf("create charger %s: %w", c.ID, charging.ErrExists)
	}
	return nil
}

// RecordBoot stores what a BootNotification said and how it was answered;
// the boot also counts as the charger being seen. ErrNotFound for an unknown
// charger.
func (s *Store) RecordBoot(ctx context.Context, b charging.Boot) error {
	at, err := encTime(b.At)
	if err != nil {
		return fmt.Errorf("record boot of %s: %w", b.ChargerID, err)
	}
	return s.recordBoot(ctx, b.ChargerID, []any{b.Vendor, b.Model, b.SerialNumber, b.FirmwareVersion, b.ICCID, b.IMSI,
		b.MeterType, b.MeterSerial, string(b.Status), at, b.ChargerID})
}

// TouchCharger records that the charger was heard from at t; ErrNotFound for
// an unknown charger. Calls made while others are being written are
// written together in the next statement (a heartbeat a minute from each
// of 100 000 chargers is 1 700 a second).
func (s *Store) TouchCharger(ctx context.Context, id string, t time.Time) error {
	at, err := encTime(t)
	if err != nil {
		return fmt.Errorf("touch charger %s: %w", id, err)
	}
	found, err := s.touches.Call(ctx, touch{id: id, at: *at})
	if err == nil && !found {
		err = charging.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("touch charger %s: %w", id, err)
	}
	return nil
}

// touch is one TouchCharger call.
type touch struct {
	id string
	at int64
}

const sqlTouchChargers = `UPDATE chargers AS c SET last_seen_at = v.at
	FROM unnest($1::text[], $2::bigint[]) AS v (id, at) WHERE c.id = v.id RETURNING c.id`

// touchChargers writes a batch of touches in one statement, the latest
// time of each charger, and reports which chargers exist.
func (s *Store) touchChargers(ctx context.Context, ts []touch) ([]bool, error) {
	latest := make(map[string]int64, len(ts))
	for _, t := range ts {
		if cur, ok := latest[t.id]; !ok || t.at > cur {
			latest[t.id] = t.at
		}
	}
	ids, ats := make([]string, 0, len(latest)), make([]int64, 0, len(latest))
	for id, at := range latest {
		ids, ats = append(ids, id), append(ats, at)
	}
	rows, err := s.pool.Query(ctx, sqlTouchChargers, ids, ats)
	if err != nil {
		return nil, err
	}
	found := make(map[string]bool, len(ids))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		found[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]bool, len(ts))
	for i, t := range ts {
		out[i] = found[t.id]
	}
	return out, nil
}

// SetConnectorStatus stores a connector's status unless the stored one has
// a newer StatusAt, and reports whether it did and the EVSE entry it
// leaves (charging.FoldEVSE of the EVSE's connectors, read in the same
// transaction), which its ConnectorChanged event carries. ErrNotFound for
// an unknown charger.
func (s *Store) SetConnectorStatus(ctx context.Context, c charging.Connector) (evse charging.Connector, applied bool, err error) {
	c = c.Row()
	var te timeEnc
	args := []any{c.ChargerID, c.ConnectorID, c.EVSEConnectorID, string(c.Availability), string(c.State), string(c.Status),
		c.ErrorCode, c.Info, c.VendorID, c.VendorErrorCode, te.t(c.StatusAt), te.t(c.UpdatedAt)}
	if te.err != nil {
		return evse, false, fmt.Errorf("set status of %s/%d/%d: %w", c.ChargerID, c.ConnectorID, c.EVSEConnectorID, te.err)
	}
	r, err := s.writeCharger(ctx, chargerWrite{charger: c.ChargerID, status: c, args: args})
	evse, applied = r.evse, r.applied
	if isForeignKeyViolation(err) {
		err = charging.ErrNotFound
	}
	if err != nil {
		return charging.Connector{}, false, fmt.Errorf("set status of %s/%d/%d: %w", c.ChargerID, c.ConnectorID, c.EVSEConnectorID, err)
	}
	return evse, applied, nil
}

func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// GetIDTag returns the tag, or ErrNotFound.
func (s *Store) GetIDTag(ctx context.Context, id string) (charging.IDTag, error) {
	t, err := scanTag(s.pool.QueryRow(ctx, sqlGetTag, id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = charging.ErrNotFound
	}
	if err != nil {
		return charging.IDTag{}, fmt.Errorf("get id tag %s: %w", id, err)
	}
	return t, nil
}

// PutIDTag creates or replaces a tag.
func (s *Store) PutIDTag(ctx context.Context, t charging.IDTag) error {
	var te timeEnc
	args := []any{t.ID, string(tagType(t.Type)), string(t.Status), te.p(t.ExpiresAt), t.ParentID, te.t(t.CreatedAt)}
	if te.err != nil {
		return fmt.Errorf("put id tag %s: %w", t.ID, te.err)
	}
	if _, err := s.pool.Exec(ctx, sqlPutTag, args...); err != nil {
		return fmt.Errorf("put id tag %s: %w", t.ID, err)
	}
	return nil
}

// DeleteIDTag removes a tag; sessions that used it keep its id.
// ErrNotFound for an unknown tag.
func (s *Store) DeleteIDTag(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM id_tags WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = charging.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete id tag %s: %w", id, err)
	}
	return nil
}

// DeleteCharger removes a charger and its connectors; its sessions, meter
// samples, events and documents stay (they are history: CDRs were sent for
// them). ErrNotFound for an unknown charger.
func (s *Store) DeleteCharger(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM chargers WHERE id = $1` /* connectors cascade */, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = charging.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete charger %s: %w", id, err)
	}
	return nil
}

// ListIDTags returns every tag, ordered by id.
func (s *Store) ListIDTags(ctx context.Context) ([]charging.IDTag, error) {
	rows, err := s.pool.Query(ctx, sqlListTags)
	if err != nil {
		return nil, fmt.Errorf("list id tags: %w", err)
	}
	defer rows.Close()
	var out []charging.IDTag
	for rows.Next() {
		t, err := scanTag(rows)
		if err != nil {
			return nil, fmt.Errorf("list id tags: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list id tags: %w", err)
	}
	return out, nil
}

func scanTag(row pgx.Row) (charging.IDTag, error) {
	var t charging.IDTag
	var expires, created *int64
	if err := row.Scan(&t.ID, &t.Type, &t.Status, &expires, &t.ParentID, &created); err != nil {
		return charging.IDTag{}, err
	}
	t.ExpiresAt, t.CreatedAt = decTimePtr(expires), decTime(created)
	return t, nil
}

// tagType is the type stored for a tag: a tag put without one is a 1.6
// RFID tag, as the migration that added the column says.
func tagType(t charging.IDTokenType) charging.IDTokenType {
	if t == "" {
		return charging.TokenISO14443
	}
	return t
}

// RecordEvent keeps a charger report. The charger need not exist.
func (s *Store) RecordEvent(ctx context.Context, e charging.ChargerEvent) error {
	at, err := encTime(e.At)
	if err != nil {
		return fmt.Errorf("record %s event of %s: %w", e.Kind, e.ChargerID, err)
	}
	if _, err := s.pool.Exec(ctx, sqlInsertEvent, e.ChargerID, e.Kind, e.Payload, at); err != nil {
		return fmt.Errorf("record %s event of %s: %w", e.Kind, e.ChargerID, err)
	}
	return nil
}

// ListEvents returns a charger's latest events, newest first: at most limit
// (100 when limit ≤ 0, never more than 1000).
func (s *Store) ListEvents(ctx context.Context, chargerID string, limit int) ([]charging.ChargerEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	rows, err := s.pool.Query(ctx, sqlListEvents, chargerID, limit)
	if err != nil {
		return nil, fmt.Errorf("list events of %s: %w", chargerID, err)
	}
	defer rows.Close()
	var out []charging.ChargerEvent
	for rows.Next() {
		var e charging.ChargerEvent
		var at *int64
		if err := rows.Scan(&e.ID, &e.ChargerID, &e.Kind, &e.Payload, &at); err != nil {
			return nil, fmt.Errorf("list events of %s: %w", chargerID, err)
		}
		e.At = decTime(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events of %s: %w", chargerID, err)
	}
	return out, nil
}

const sqlChargersExist = `SELECT id FROM chargers WHERE id = ANY($1::text[])`

// ChargersExist returns which of ids are registered chargers, in one
// statement.
func (s *Store) ChargersExist(ctx context.Context, ids []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, sqlChargersExist, ids)
	if err != nil {
		return nil, fmt.Errorf("look up %d chargers: %w", len(ids), err)
	}
	defer rows.Close()
	out := make(map[string]bool, len(ids))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("look up %d chargers: %w", len(ids), err)
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up %d chargers: %w", len(ids), err)
	}
	return out, nil
}
