package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// A connecting charger's BootNotification and StatusNotifications were
// each their own transaction: at a fleet's ramp (200 new chargers a
// second, a boot and two statuses each) that was 600 commits a second of
// the about 1 350 PostgreSQL made, each a WAL flush. Boots and statuses
// made while others are being written now go through one coalesce.Batcher
// (as heartbeats do) and share one transaction: each caller is answered
// once that transaction committed. In a batch a charger's writes keep the
// order they were made in; the batch is written in charger order, so that
// two batches lock rows in one order. A batch that fails is written again
// write by write, each in its own transaction, so that one failing write
// (an unknown charger's status) fails alone.

// chargerWrite is one RecordBoot or SetConnectorStatus.
type chargerWrite struct {
	charger string
	// boot is RecordBoot's arguments (sqlRecordBoot), nil for a status.
	boot []any
	// status is SetConnectorStatus's connector (as Row()) and args its
	// sqlSetConnector arguments.
	status charging.Connector
	args   []any
}

// chargerWritten is a chargerWrite's outcome.
type chargerWritten struct {
	evse    charging.Connector
	applied bool
	// events is whether the write appended an event.
	events bool
	err    error
}

// writeCharger runs w with the next batch of charger writes.
func (s *Store) writeCharger(ctx context.Context, w chargerWrite) (chargerWritten, error) {
	r, err := s.chargerWrites.Call(ctx, w)
	if err != nil {
		return chargerWritten{}, err
	}
	if r.events {
		s.eventsCommitted()
	}
	return r, r.err
}

// sqlSetConnectorEVSE is sqlSetConnector returning, when it applied,
// every connector of the EVSE as it leaves them (the written one from the
// upsert, which the statement's own read does not see, and the others as
// the transaction sees them); no row when it did not apply.
var sqlSetConnectorEVSE = `WITH up AS (` + strings.TrimSuffix(sqlSetConnector, "RETURNING charger_id") + `RETURNING ` + connectorCols + `)
	SELECT up.* FROM up
	UNION ALL
	SELECT ` + connectorCols + ` FROM connectors k
	WHERE k.charger_id = $1 AND k.connector_id = $2 AND k.evse_connector_id <> $3 AND EXISTS (SELECT 1 FROM up)`

// writeChargers is the charger writes' coalesce.Batcher.Do: ws in one
// transaction, or, when that fails, each in its own.
func (s *Store) writeChargers(ctx context.Context, ws []chargerWrite) ([]chargerWritten, error) {
	order := make([]int, len(ws))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ws[a].charger, ws[b].charger) })
	out := make([]chargerWritten, len(ws))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return writeChargersTx(ctx, tx, ws, order, out) })
	if err == nil {
		return out, nil
	}
	if len(ws) > 1 {
		s.cfg.log.Warn("batched charger writes failed; writing them one by one", "writes", len(ws), "err", err)
	}
	for _, i := range order {
		one := []chargerWritten{{}}
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return writeChargersTx(ctx, tx, ws[i:i+1], []int{0}, one) })
		out[i] = one[0]
		if err != nil {
			out[i] = chargerWritten{err: err}
		}
	}
	return out, nil
}

// errUnknownCharger is a boot of a charger that does not exist, which
// fails that write alone (the transaction goes on).
var errUnknownCharger = errors.New("unknown charger")

// writeChargersTx runs the writes ws in tx in the order order gives, all
// their statements sent at once, then the ConnectorChanged events of the
// statuses that applied in one statement, and puts each outcome in out. A
// boot of an unknown charger is reported in its outcome, not as an error.
func writeChargersTx(ctx context.Context, tx pgx.Tx, ws []chargerWrite, order []int, out []chargerWritten) error {
	b := &pgx.Batch{}
	for _, i := range order {
		if ws[i].boot != nil {
			b.Queue(sqlRecordBoot, ws[i].boot...)
		} else {
			b.Queue(sqlSetConnectorEVSE, ws[i].args...)
		}
	}
	br := tx.SendBatch(ctx, b)
	var evs []charging.Event
	for _, i := range order {
		w := ws[i]
		if w.boot != nil {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			if tag.RowsAffected() == 0 {
				out[i] = chargerWritten{err: errUnknownCharger}
			} else {
				out[i] = chargerWritten{applied: true, events: true}
			}
			continue
		}
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return err
		}
		var conns []charging.Connector
		for rows.Next() {
			var k connectorRow
			if err := rows.Scan(k.dest()...); err != nil {
				rows.Close()
				br.Close()
				return err
			}
			conns = append(conns, k.connector(w.status.ChargerID))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			br.Close()
			return err
		}
		if len(conns) == 0 { // a newer status is stored
			out[i] = chargerWritten{}
			continue
		}
		evse := charging.FoldEVSE(conns)
		out[i] = chargerWritten{evse: evse, applied: true, events: true}
		evs = append(evs, charging.Event{Kind: charging.ConnectorChanged, ChargerID: w.status.ChargerID, Connector: &out[i].evse, At: w.status.UpdatedAt})
	}
	if err := br.Close(); err != nil {
		return err
	}
	return insertEvents(ctx, tx, evs)
}

// recordBoot is RecordBoot's write; err wraps the cause.
func (s *Store) recordBoot(ctx context.Context, chargerID string, args []any) error {
	_, err := s.writeCharger(ctx, chargerWrite{charger: chargerID, boot: args})
	if errors.Is(err, errUnknownCharger) {
		err = charging.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("record boot of %s: %w", chargerID, err)
	}
	return nil
}
