package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/eventlog"
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

// writeChargers is the charger writes' coalesce.Batcher.Do: ws in one
// transaction, or, when that fails, each in its own.
func (s *Store) writeChargers(ctx context.Context, ws []chargerWrite) ([]chargerWritten, error) {
	out := make([]chargerWritten, len(ws))
	order := make([]int, len(ws))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ws[a].charger, ws[b].charger) })
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, i := range order {
			r, err := writeChargerTx(ctx, tx, ws[i])
			if err != nil {
				return err
			}
			out[i] = r
		}
		return nil
	})
	if err == nil {
		return out, nil
	}
	if len(ws) > 1 {
		s.cfg.log.Warn("batched charger writes failed; writing them one by one", "writes", len(ws), "err", err)
	}
	for _, i := range order {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			r, err := writeChargerTx(ctx, tx, ws[i])
			out[i] = r
			return err
		})
		if err != nil {
			out[i] = chargerWritten{err: err}
		}
	}
	return out, nil
}

// errUnknownCharger is a boot of a charger that does not exist, which
// fails that write alone (the transaction goes on).
var errUnknownCharger = errors.New("unknown charger")

// writeChargerTx runs one charger write in tx. A boot of an unknown
// charger is reported in the result, not as an error.
func writeChargerTx(ctx context.Context, tx pgx.Tx, w chargerWrite) (chargerWritten, error) {
	if w.boot != nil {
		tag, err := tx.Exec(ctx, sqlRecordBoot, w.boot...)
		if err != nil {
			return chargerWritten{}, err
		}
		if tag.RowsAffected() == 0 {
			return chargerWritten{err: errUnknownCharger}, nil
		}
		return chargerWritten{applied: true, events: true}, nil
	}
	c := w.status
	tag, err := tx.Exec(ctx, sqlSetConnector, w.args...)
	if err != nil {
		return chargerWritten{}, err
	}
	if tag.RowsAffected() == 0 {
		return chargerWritten{}, nil
	}
	rows, err := tx.Query(ctx, sqlEVSEConnectors, c.ChargerID, c.ConnectorID)
	if err != nil {
		return chargerWritten{}, err
	}
	var conns []charging.Connector
	for rows.Next() {
		var k connectorRow
		if err := rows.Scan(k.dest()...); err != nil {
			rows.Close()
			return chargerWritten{}, err
		}
		conns = append(conns, k.connector(c.ChargerID))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return chargerWritten{}, err
	}
	evse := charging.FoldEVSE(conns)
	ev := charging.Event{ID: charging.NewID(), Kind: charging.ConnectorChanged, ChargerID: c.ChargerID, Connector: &evse}
	body, err := eventlog.EncodeBody(ev)
	if err != nil {
		return chargerWritten{}, err
	}
	// The statement's time argument is updated_at, the last of args.
	if _, err := tx.Exec(ctx, sqlConnectorEvent, ev.ID, c.ChargerID, w.args[len(w.args)-1], string(body)); err != nil {
		return chargerWritten{}, err
	}
	return chargerWritten{evse: evse, applied: true, events: true}, nil
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
