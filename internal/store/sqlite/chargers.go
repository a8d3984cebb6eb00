package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"time"

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
	WHERE c.id = ? ORDER BY k.connector_id, k.evse_connector_id`
	sqlListChargers = `SELECT ` + chargerCols + `
	FROM chargers c LEFT JOIN connectors k ON k.charger_id = c.id
	ORDER BY c.id, k.connector_id, k.evse_connector_id`
	// sqlListChargersAfter is a page of sqlListChargers: the chargers
	// after an id, by the primary key, then their connectors.
	sqlListChargersAfter = `SELECT ` + chargerCols + `
	FROM (SELECT * FROM chargers WHERE id > ?1 ORDER BY id LIMIT ?2) c LEFT JOIN connectors k ON k.charger_id = c.id
	ORDER BY c.id, k.connector_id, k.evse_connector_id`
	sqlInsertCharger = `INSERT INTO chargers (id, registered, vendor, model, serial_number, firmware_version, iccid, imsi,
	meter_type, meter_serial, boot_status, strict_timestamps, last_boot_at, last_seen_at, created_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
	sqlInsertConnector = `INSERT INTO connectors (charger_id, connector_id, evse_connector_id, availability, state, status,
	error_code, info, vendor_id, vendor_error_code, status_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlRecordBoot = `UPDATE chargers SET vendor = ?, model = ?, serial_number = ?, firmware_version = ?, iccid = ?,
	imsi = ?, meter_type = ?, meter_serial = ?, boot_status = ?, last_boot_at = ?, last_seen_at = ? WHERE id = ?`
	sqlTouchCharger  = `UPDATE chargers SET last_seen_at = ? WHERE id = ?`
	sqlChargerExists = `SELECT 1 FROM chargers WHERE id = ?`
	// sqlSetConnector keeps a stored status with a newer status_at.
	sqlSetConnector = `INSERT INTO connectors (charger_id, connector_id, evse_connector_id, availability, state, status,
	error_code, info, vendor_id, vendor_error_code, status_at, updated_at)
	VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
	ON CONFLICT (charger_id, connector_id, evse_connector_id) DO UPDATE SET availability = excluded.availability,
		state = excluded.state, status = excluded.status, error_code = excluded.error_code,
		info = excluded.info, vendor_id = excluded.vendor_id, vendor_error_code = excluded.vendor_error_code,
		status_at = excluded.status_at, updated_at = excluded.updated_at
	WHERE connectors.status_at IS NULL OR excluded.status_at >= connectors.status_at`

	sqlGetTag   = `SELECT id, type, status, expires_at, parent_id, created_at FROM id_tags WHERE id = ?`
	sqlListTags = `SELECT id, type, status, expires_at, parent_id, created_at FROM id_tags ORDER BY id`
	sqlPutTag   = `INSERT INTO id_tags (id, type, status, expires_at, parent_id, created_at) VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET type = excluded.type, status = excluded.status, expires_at = excluded.expires_at,
		parent_id = excluded.parent_id, created_at = excluded.created_at`

	// sqlSetPlug stores a connector's plug, its status kept (Unknown for
	// a connector not heard from yet).
	sqlSetPlug = `INSERT INTO connectors (charger_id, connector_id, evse_connector_id, state, status, plug, cable)
	VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)
	ON CONFLICT (charger_id, connector_id, evse_connector_id) DO UPDATE SET plug = excluded.plug, cable = excluded.cable`
	// sqlEVSEConnectors reads the connectors of one EVSE.
	sqlEVSEConnectors = `SELECT ` + connectorCols + ` FROM connectors k WHERE k.charger_id = ? AND k.connector_id = ?`

	sqlDeleteConnectors = `DELETE FROM connectors WHERE charger_id = ?`
	sqlDeleteCharger    = `DELETE FROM chargers WHERE id = ?`
	sqlDeleteTag        = `DELETE FROM id_tags WHERE id = ?`

	sqlInsertEvent = `INSERT INTO events (charger_id, kind, payload, at) VALUES (?, ?, ?, ?)`
	sqlListEvents  = `SELECT id, charger_id, kind, payload, at FROM events WHERE charger_id = ? ORDER BY id DESC LIMIT ?`
)

// GetCharger returns the charger with its connectors (connector 0, the
// charger as a whole, included), or ErrNotFound.
func (s *Store) GetCharger(ctx context.Context, id string) (charging.Charger, error) {
	cs, err := s.queryChargers(ctx, s.r.getCharger, id)
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
	cs, err := s.queryChargers(ctx, s.r.listChargers)
	if err != nil {
		return nil, fmt.Errorf("list chargers: %w", err)
	}
	return cs, nil
}

// ListChargersAfter returns a page of chargers by id (see
// charging.ChargerStore).
func (s *Store) ListChargersAfter(ctx context.Context, after string, limit int) ([]charging.Charger, error) {
	cs, err := s.queryChargers(ctx, s.r.listChargersAfter, after, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("list chargers after %q: %w", after, err)
	}
	return cs, nil
}

// queryChargers reads chargers joined with their connectors, one row per
// connector, ordered by charger.
func (s *Store) queryChargers(ctx context.Context, st *sql.Stmt, args ...any) ([]charging.Charger, error) {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []charging.Charger
	for rows.Next() {
		var (
			c                           charging.Charger
			lastBoot, lastSeen, created sql.NullInt64
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
		if k.connID.Valid {
			last := &out[len(out)-1]
			last.Connectors = append(last.Connectors, k.connector(c.ID))
		}
	}
	for i := range out {
		out[i].Connectors = charging.GroupEVSEs(out[i].Connectors)
	}
	return out, rows.Err()
}

// connectorRow scans connectorCols (nullable: the charger's LEFT JOIN).
type connectorRow struct {
	connID, evseConn, statusAt, updatedAt                sql.NullInt64
	avail, state, status, errCode, info, vid, verr, plug sql.NullString
	cable                                                sql.NullBool
}

func (k *connectorRow) dest() []any {
	return []any{&k.connID, &k.evseConn, &k.avail, &k.state, &k.status, &k.errCode, &k.info, &k.vid, &k.verr,
		&k.statusAt, &k.updatedAt, &k.plug, &k.cable}
}

// connector is the row's connector; a row stored with its status word
// only (none since 0011) has the split the word stands for.
func (k *connectorRow) connector(chargerID string) charging.Connector {
	cn := charging.Connector{
		ChargerID: chargerID, ConnectorID: int(k.connID.Int64), EVSEConnectorID: int(k.evseConn.Int64),
		Availability: charging.Availability(k.avail.String), State: charging.ConnectorState(k.state.String),
		Status: charging.ConnectorStatus(k.status.String), ErrorCode: k.errCode.String, Info: k.info.String,
		VendorID: k.vid.String, VendorErrorCode: k.verr.String, StatusAt: decTime(k.statusAt), UpdatedAt: decTime(k.updatedAt),
		Plug: charging.PlugType(k.plug.String), Cable: k.cable.Bool,
	}
	if cn.State == "" {
		cn.Availability, cn.State = cn.Status.Split()
	}
	return cn
}

// connectorArgs are the arguments of sqlInsertConnector and sqlSetConnector.
func connectorArgs(te *timeEnc, k charging.Connector) []any {
	return []any{k.ChargerID, k.ConnectorID, k.EVSEConnectorID, string(k.Availability), string(k.State), string(k.Status),
		k.ErrorCode, k.Info, k.VendorID, k.VendorErrorCode, te.t(k.StatusAt), te.t(k.UpdatedAt)}
}

// CreateCharger adds a charger with its connectors (charging.ConnectorRows
// of its EVSE entries); ErrExists when the id is taken.
func (s *Store) CreateCharger(ctx context.Context, c charging.Charger) error {
	var te timeEnc
	args := []any{c.ID, c.Registered, c.Vendor, c.Model, c.SerialNumber, c.FirmwareVersion, c.ICCID, c.IMSI,
		c.MeterType, c.MeterSerial, string(c.BootStatus), c.StrictTimestamps, te.p(c.LastBootAt), te.p(c.LastSeenAt), te.t(c.CreatedAt)}
	var conns [][]any
	for _, k := range charging.ConnectorRows(c.ID, c.Connectors) {
		conns = append(conns, connectorArgs(&te, k))
	}
	if te.err != nil {
		return fmt.Errorf("create charger %s: %w", c.ID, te.err)
	}
	err := s.writeOther(ctx, func(w *writer) error {
		n, err := w.exec(w.insertCharger, args...)
		if err != nil {
			return err
		}
		if n == 0 {
			return charging.ErrExists
		}
		for _, a := range conns {
			if err := w.run(w.insertConnector, a...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create charger %s: %w", c.ID, err)
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
	args := []any{b.Vendor, b.Model, b.SerialNumber, b.FirmwareVersion, b.ICCID, b.IMSI, b.MeterType, b.MeterSerial,
		string(b.Status), at, at, b.ChargerID}
	ev := []charging.Event{{Kind: charging.ChargerChanged, At: b.At, ChargerID: b.ChargerID}}
	err = s.writeOther(ctx, func(w *writer) error {
		if err := updateOne(w, w.recordBoot, args...); err != nil {
			return err
		}
		return insertEvents(w, ev)
	})
	if err != nil {
		return fmt.Errorf("record boot of %s: %w", b.ChargerID, err)
	}
	return nil
}

// TouchCharger records that the charger was heard from at t; ErrNotFound for
// an unknown charger.
func (s *Store) TouchCharger(ctx context.Context, id string, t time.Time) error {
	at, err := encTime(t)
	if err != nil {
		return fmt.Errorf("touch charger %s: %w", id, err)
	}
	if err := s.writeOther(ctx, func(w *writer) error { return updateOne(w, w.touchCharger, at, id) }); err != nil {
		return fmt.Errorf("touch charger %s: %w", id, err)
	}
	return nil
}

// DeleteCharger removes a charger and its connectors; its sessions, meter
// samples, events and documents stay (they are history: CDRs were sent for
// them). ErrNotFound for an unknown charger.
func (s *Store) DeleteCharger(ctx context.Context, id string) error {
	err := s.writeOther(ctx, func(w *writer) error {
		if err := w.run(w.deleteConnectors, id); err != nil {
			return err
		}
		return updateOne(w, w.deleteCharger, id)
	})
	if err != nil {
		return fmt.Errorf("delete charger %s: %w", id, err)
	}
	return nil
}

// updateOne runs an UPDATE of one row, ErrNotFound when it matched none.
func updateOne(w *writer, st driver.Stmt, args ...any) error {
	n, err := w.exec(st, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return charging.ErrNotFound
	}
	return nil
}

// SetConnectorStatus stores a connector's status unless the stored one has
// a newer StatusAt, and reports whether it did and the EVSE entry it
// leaves (charging.FoldEVSE of the EVSE's connectors, read in the same
// write), which its ConnectorChanged event carries. ErrNotFound for an
// unknown charger.
func (s *Store) SetConnectorStatus(ctx context.Context, c charging.Connector) (evse charging.Connector, applied bool, err error) {
	c = c.Row()
	var te timeEnc
	args := connectorArgs(&te, c)
	if te.err != nil {
		return evse, false, fmt.Errorf("set status of %s/%d/%d: %w", c.ChargerID, c.ConnectorID, c.EVSEConnectorID, te.err)
	}
	err = s.writeOther(ctx, func(w *writer) error {
		var one int
		if err := w.queryRow(w.chargerExists, c.ChargerID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return charging.ErrNotFound
		} else if err != nil {
			return err
		}
		n, err := w.exec(w.setConnector, args...)
		applied = n > 0
		if err != nil || !applied {
			return err
		}
		conns, err := w.evseConnectors(c.ChargerID, c.ConnectorID)
		if err != nil {
			return err
		}
		evse = charging.FoldEVSE(conns)
		return insertEvents(w, []charging.Event{{Kind: charging.ConnectorChanged, At: c.UpdatedAt, ChargerID: c.ChargerID, Connector: &evse}})
	})
	if err != nil {
		return charging.Connector{}, false, fmt.Errorf("set status of %s/%d/%d: %w", c.ChargerID, c.ConnectorID, c.EVSEConnectorID, err)
	}
	return evse, applied, nil
}

// SetConnectorPlug stores a connector's plug (see charging.ChargerStore).
func (s *Store) SetConnectorPlug(ctx context.Context, c charging.Connector) error {
	c = c.Row()
	err := s.writeOther(ctx, func(w *writer) error {
		var one int
		if err := w.queryRow(w.chargerExists, c.ChargerID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return charging.ErrNotFound
		} else if err != nil {
			return err
		}
		return w.run(w.setPlug, c.ChargerID, c.ConnectorID, c.EVSEConnectorID, string(charging.StatusUnknown), string(c.Plug), c.Cable)
	})
	if err != nil {
		return fmt.Errorf("set plug of %s/%d/%d: %w", c.ChargerID, c.ConnectorID, c.EVSEConnectorID, err)
	}
	return nil
}

// evseConnectors reads the connectors of a charger's EVSE.
func (w *writer) evseConnectors(chargerID string, evse int) ([]charging.Connector, error) {
	nv, err := w.bind([]any{chargerID, evse})
	if err != nil {
		return nil, err
	}
	rows, err := w.evseConns.(driver.StmtQueryContext).QueryContext(w.ctx, nv)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []charging.Connector
	r := wrow{vals: make([]driver.Value, len(rows.Columns()))}
	for {
		err := rows.Next(r.vals)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var k connectorRow
		if err := r.Scan(k.dest()...); err != nil {
			return nil, err
		}
		out = append(out, k.connector(chargerID))
	}
}

// GetIDTag returns the tag, or ErrNotFound.
func (s *Store) GetIDTag(ctx context.Context, id string) (charging.IDTag, error) {
	t, err := scanTag(s.r.getTag.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
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
	if err := s.writeOther(ctx, func(w *writer) error { return w.run(w.putTag, args...) }); err != nil {
		return fmt.Errorf("put id tag %s: %w", t.ID, err)
	}
	return nil
}

// DeleteIDTag removes a tag; sessions that used it keep its id.
// ErrNotFound for an unknown tag.
func (s *Store) DeleteIDTag(ctx context.Context, id string) error {
	if err := s.writeOther(ctx, func(w *writer) error { return updateOne(w, w.deleteTag, id) }); err != nil {
		return fmt.Errorf("delete id tag %s: %w", id, err)
	}
	return nil
}

// ListIDTags returns every tag, ordered by id.
func (s *Store) ListIDTags(ctx context.Context) ([]charging.IDTag, error) {
	rows, err := s.r.listTags.QueryContext(ctx)
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

type scanner interface{ Scan(dest ...any) error }

func scanTag(sc scanner) (charging.IDTag, error) {
	var t charging.IDTag
	var expires, created sql.NullInt64
	if err := sc.Scan(&t.ID, &t.Type, &t.Status, &expires, &t.ParentID, &created); err != nil {
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
	if err := s.writeOther(ctx, func(w *writer) error { return w.run(w.insertEvent, e.ChargerID, e.Kind, e.Payload, at) }); err != nil {
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
	rows, err := s.r.listEvents.QueryContext(ctx, chargerID, limit)
	if err != nil {
		return nil, fmt.Errorf("list events of %s: %w", chargerID, err)
	}
	defer rows.Close()
	var out []charging.ChargerEvent
	for rows.Next() {
		var e charging.ChargerEvent
		var at sql.NullInt64
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
