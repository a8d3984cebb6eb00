package charging

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
)

// What chargers really send is screened here before it reaches a session's
// totals (#18 item 4). Each case is stored as reported, flagged on the
// sampled value (SampledValue.Flagged, which Observe skips), recorded with
// RecordViolation (ViolationFlagged), and never applied to totals:
//
//   - an energy register outside [0, MaxPlausibleRegisterWh], or not finite;
//   - an energy register below one already seen in the transaction (a
//     replaced or reset meter): the session keeps counting from the highest;
//   - Transaction.Begin and Sample.Periodic readings in one MeterValues (a
//     known vendor quirk; a StopTransaction's transactionData has both by
//     design): the Begin readings are flagged, the start register is the
//     StartTransaction's meterStart;
//   - a negative meterStart: kept on the session, counted from 0 (KWh);
//   - a StartTransaction on a connector the charger does not have;
//   - a StopTransaction for no known transaction (-1, or unknown).

// MaxPlausibleRegisterWh bounds an energy register reading: 10^11 Wh
// (100 GWh). A 350 kW charger running without pause delivers about 3 GWh a
// year, so a real meter stays far below it for its lifetime; a reading such
// as 1e300 (seen from chargers whose firmware sends garbage) would make the
// session's energy absurd.
const MaxPlausibleRegisterWh = 1e11

// MaxPlausibleConnectors bounds the connector ids of a charger that has not
// reported its connectors yet.
const MaxPlausibleConnectors = 100

// Flag reasons of a sampled value (SampledValue.Flagged): the violation kinds.
const (
	FlagRegisterImplausible = "register-implausible"
	FlagRegisterBackwards   = "register-backwards"
	FlagBeginAndPeriodic    = "begin-and-periodic"
)

// registers remembers the highest energy register seen per open
// transaction, so a reading that goes backwards is caught without a read
// on every MeterValues. A transaction not remembered (after a restart, or
// on another node) is read from the store once.
type registers struct {
	// mu guards last.
	mu   sync.Mutex
	last map[string]float64
}

// maxRemembered bounds registers.last: transactions whose stop never comes
// (a charger that vanished) must not grow it without end. When full it is
// emptied; the next reading of each transaction costs one read.
const maxRemembered = 200_000

func registerKey(chargerID string, tx int64) string {
	return chargerID + "\x00" + strconv.FormatInt(tx, 10)
}

func (r *registers) get(key string) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.last[key]
	return v, ok
}

func (r *registers) raise(key string, wh float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil || len(r.last) >= maxRemembered {
		r.last = make(map[string]float64)
	}
	if cur, ok := r.last[key]; !ok || wh > cur {
		r.last[key] = wh
	}
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
			case "Transaction.Begin":
				begin = true
			case "Sample.Periodic":
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
			switch {
			case begin && periodic && v.Context == "Transaction.Begin":
				v.Flagged = FlagBeginAndPeriodic
			case math.IsNaN(wh) || wh < 0 || wh > MaxPlausibleRegisterWh:
				v.Flagged = FlagRegisterImplausible
			case !stopData && last >= 0 && wh < last: // transactionData replays the whole transaction
				v.Flagged = FlagRegisterBackwards
			default:
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
func (s *Service) lastRegister(ctx context.Context, key, chargerID string, tx int64) float64 {
	if wh, ok := s.registers.get(key); ok {
		return wh
	}
	sess, err := s.store.SessionByTransaction(ctx, tx)
	if err != nil || sess.ChargerID != chargerID {
		if err != nil && !errors.Is(err, ErrNotFound) {
			s.log.Warn("reading a session to screen its meter values failed", "charger", chargerID, "tx", tx, "err", err)
		}
		return -1
	}
	s.registers.raise(key, sess.LastRegisterWh)
	return sess.LastRegisterWh
}

func registerExample(m *MeterValues, v *SampledValue, last float64) string {
	ex := "transaction " + txString(m.TransactionID) + ": " + v.Measurand + " " + v.Raw
	if v.RawUnit != "" {
		ex += " " + v.RawUnit
	}
	if v.Context != "" {
		ex += " (" + v.Context + ")"
	}
	if v.Flagged == FlagRegisterBackwards {
		ex += "; highest so far " + strconv.FormatFloat(last, 'f', -1, 64) + " Wh"
	}
	return ex
}

func txString(tx *int64) string {
	if tx == nil {
		return "none"
	}
	return strconv.FormatInt(*tx, 10)
}

// screenStart records what is wrong with a StartTransaction; the session
// is stored as reported either way.
func (s *Service) screenStart(ctx context.Context, r StartRequest) {
	if r.MeterStartWh < 0 {
		s.RecordViolation(ctx, Violation{ChargerID: r.ChargerID, Kind: "meter-start-negative", Outcome: ViolationFlagged,
			Example: "meterStart " + strconv.FormatInt(r.MeterStartWh, 10) + " on connector " + strconv.Itoa(r.ConnectorID)})
	}
	limit := MaxPlausibleConnectors
	if c, err := s.store.GetCharger(ctx, r.ChargerID); err == nil {
		highest := 0
		for _, cn := range c.Connectors {
			highest = max(highest, cn.ConnectorID)
		}
		if highest > 0 {
			limit = highest
		}
	}
	if r.ConnectorID > limit {
		s.RecordViolation(ctx, Violation{ChargerID: r.ChargerID, Kind: "connector-out-of-range", Outcome: ViolationFlagged,
			Example: "StartTransaction on connector " + strconv.Itoa(r.ConnectorID) + "; the charger has connectors up to " + strconv.Itoa(limit)})
	}
}
