package charging

import (
	"context"
	"errors"
	"strconv"
	"sync"
)

// What chargers really send is screened here before it reaches a session's
// totals (#18 item 4). Each case is stored as reported, flagged on the
// sampled value (SampledValue.Flagged, which Observe skips), recorded with
// RecordViolation (ViolationFlagged), and never applied to totals:
//
//   - an energy register that is not plausible (registerAnomaly: outside
//     [0, MaxRegisterWh], not finite, or a jump beyond MaxRegisterJumpWh);
//   - an energy register below one already seen in the transaction (a
//     replaced or reset meter): the session keeps counting from the highest;
//   - Transaction.Begin and Sample.Periodic readings in one MeterValues (a
//     known vendor quirk; a StopTransaction's transactionData has both by
//     design): the Begin readings are flagged, the start register is the
//     StartTransaction's meterStart;
//   - a negative meterStart: kept on the session, counted from 0 (KWh);
//   - a StartTransaction on a connector the charger does not have;
//   - a StopTransaction for no known transaction (-1, or unknown).
//
// The rules and their bounds are fold.go's (registerAnomaly,
// StartAnomalies), and the violation kinds its Anomaly kinds.

// registers is the core's memory of open transactions: per charger and
// transaction, the session's id and the highest energy register seen, so
// that a reading that goes backwards is caught, and telemetry is named by
// its session, without a read on every MeterValues. A transaction not
// remembered (after a restart, or on another node) is read from the store
// once.
type registers struct {
	// mu guards last.
	mu   sync.Mutex
	last map[string]openTx
}

// openTx is what registers keeps of a transaction.
type openTx struct {
	sessionID string
	wh        float64
}

// maxRemembered bounds registers.last: transactions whose stop never comes
// (a charger that vanished) must not grow it without end. When full it is
// emptied; the next reading of each transaction costs one read.
const maxRemembered = 200_000

func registerKey(chargerID, tx string) string {
	return chargerID + "\x00" + tx
}

func (r *registers) get(key string) (openTx, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.last[key]
	return v, ok
}

// raise records the session of a transaction and a register reading,
// keeping the highest.
func (r *registers) raise(key, sessionID string, wh float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil || len(r.last) >= maxRemembered {
		r.last = make(map[string]openTx)
	}
	cur, ok := r.last[key]
	if !ok {
		r.last[key] = openTx{sessionID: sessionID, wh: wh}
		return
	}
	if sessionID != "" {
		cur.sessionID = sessionID
	}
	cur.wh = max(cur.wh, wh)
	r.last[key] = cur
}

func (r *registers) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.last, key)
}

// isRegister reports whether v is a reading of the session's energy
// register, as Observe counts it.
func isRegister(v *SampledValue) bool {
	return v.Numeric && v.Measurand == MeasurandEnergyImportRegister && v.Phase == "" &&
		(v.Location == "" || v.Location == "Outlet" || v.Location == "Cable" || v.Location == "EV")
}

// screenMeterValues flags the sampled values of m that must not reach the
// session's totals and records each case. It returns the highest register
// reading it let through (for the memory of the transaction), or -1.
// stopData says m is a StopTransaction's transactionData, which holds the
// whole transaction's readings, Begin and periodic ones alike, by design.
func (s *Service) screenMeterValues(ctx context.Context, m *MeterValues, stopData bool) float64 {
	begin, periodic := false, false
	for i := range m.Samples {
		if stopData {
			break
		}
		for j := range m.Samples[i].Values {
			switch m.Samples[i].Values[j].Context {
			case ContextTransactionBegin:
				begin = true
			case ContextSamplePeriodic:
				periodic = true
			}
		}
	}
	last := -1.0
	key := ""
	if m.TransactionID != nil {
		key = registerKey(m.ChargerID, *m.TransactionID)
		last = s.lastRegister(ctx, key, m.ChargerID, *m.TransactionID)
	}
	highest := -1.0
	for i := range m.Samples {
		for j := range m.Samples[i].Values {
			v := &m.Samples[i].Values[j]
			if !isRegister(v) {
				continue
			}
			wh := v.Value * 1000
			after := last
			if stopData {
				after = -1 // transactionData replays the whole transaction
			}
			switch {
			case begin && periodic && v.Context == ContextTransactionBegin:
				v.Flagged = AnomalyBeginAndPeriodic
			default:
				v.Flagged = registerAnomaly(after, wh)
			}
			if v.Flagged == "" {
				highest = max(highest, wh)
				continue
			}
			s.RecordViolation(ctx, Violation{ChargerID: m.ChargerID, Kind: v.Flagged, Outcome: ViolationFlagged,
				Example: registerExample(m, v, last)})
		}
	}
	return highest
}

// lastRegister is the highest register reading of the charger's
// transaction, or -1 when the transaction is not known.
func (s *Service) lastRegister(ctx context.Context, key, chargerID, tx string) float64 {
	if o, ok := s.openTx(ctx, key, chargerID, tx); ok {
		return o.wh
	}
	return -1
}

// openTx returns what the core remembers of the charger's transaction,
// reading its session once when it does not; ok is false when the charger
// has no such transaction.
func (s *Service) openTx(ctx context.Context, key, chargerID, tx string) (openTx, bool) {
	if o, ok := s.registers.get(key); ok && o.sessionID != "" {
		return o, true
	}
	sess, err := s.store.SessionByTransaction(ctx, chargerID, tx)
	if err != nil {
		if err != nil && !errors.Is(err, ErrNotFound) {
			s.log.Warn("reading a session to screen its meter values failed", "charger", chargerID, "tx", tx, "err", err)
		}
		return openTx{}, false
	}
	s.registers.raise(key, sess.ID, sess.LastRegisterWh)
	return openTx{sessionID: sess.ID, wh: sess.LastRegisterWh}, true
}

func registerExample(m *MeterValues, v *SampledValue, last float64) string {
	ex := "transaction " + txString(m.TransactionID) + ": " + v.Measurand + " " + v.Raw
	if v.RawUnit != "" {
		ex += " " + v.RawUnit
	}
	if v.Context != "" {
		ex += " (" + v.Context + ")"
	}
	if v.Flagged == AnomalyRegisterBackwards {
		ex += "; highest so far " + strconv.FormatFloat(last, 'f', -1, 64) + " Wh"
	}
	return ex
}

func txString(tx *string) string {
	if tx == nil {
		return "none"
	}
	return *tx
}

// screenStart records what is wrong with a StartTransaction
// (StartAnomalies); the session is stored as reported either way.
func (s *Service) screenStart(ctx context.Context, r StartRequest) {
	highest := 0
	if c, err := s.store.GetCharger(ctx, r.ChargerID); err == nil {
		for _, cn := range c.Connectors {
			highest = max(highest, cn.ConnectorID)
		}
	}
	for _, a := range StartAnomalies(r.MeterStartWh, r.ConnectorID, highest) {
		ex := "StartTransaction on connector " + strconv.Itoa(r.ConnectorID) + ": " + a.Example
		if a.Kind == AnomalyConnectorOutOfRange {
			limit := highest
			if limit == 0 {
				limit = MaxConnectorID
			}
			ex += "; the charger has connectors up to " + strconv.Itoa(limit)
		}
		s.RecordViolation(ctx, Violation{ChargerID: r.ChargerID, Kind: a.Kind, Outcome: ViolationFlagged, Example: ex})
	}
}
