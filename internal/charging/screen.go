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

// registers is the core's memory of open transactions, keyed by charger
// and transaction: the session's id and primary key, and its meter as
// this core last wrote (or read) it with its MeterVersion. The core folds
// each MeterValues into that meter (Fold) and has the store write the
// result by primary key over that version (compare and set), so a
// MeterValues costs no read and no lookup by transaction id; the highest
// register also screens the next readings. A transaction not remembered
// (after a restart, or on another node) is read from the store once; a
// version that another writer moved on is found by the store's compare
// and set, and read again (writeMeter).
type registers struct {
	// mu guards last, gen, the entries and every TxCache.
	mu   sync.Mutex
	last map[txKey]*openTx
	// gen counts the times last was emptied (maxRemembered): a TxCache
	// filled from an earlier map is not used.
	gen uint64
}

// TxCache is a connection's memory of where the core keeps the
// transaction its MeterValues name (MeterValues.Cache): the next
// MeterValues of the same transaction finds it without hashing its key.
// That lookup missed the CPU's caches on every call under saturation,
// about 1 µs of the core's work per MeterValues (#16). The zero value is
// ready; the core guards it, a connection only keeps it.
type TxCache struct {
	key  txKey
	slot *openTx
	gen  uint64
}

// txKey names a charger's transaction in registers: two strings, so that
// finding one builds no key.
type txKey struct{ charger, tx string }

// openTx is what registers keeps of a transaction.
type openTx struct {
	sessionID string
	seq       int64
	version   int64
	meter     Meter
	// slot is the registers entry this copy was read from (nil: none):
	// update writes it back there without hashing the key again. A map of
	// pointers also keeps the map's slots small (the values were 104
	// bytes, and the lookups missed the cache, #16).
	slot *openTx
	// gone marks an entry forgotten: a TxCache holding it looks again.
	gone bool
}

// openTxOf is what registers keeps of sess.
func openTxOf(sess *Session) openTx {
	return openTx{sessionID: sess.ID, seq: sess.Seq, version: sess.MeterVersion, meter: sess.Meter()}
}

// maxRemembered bounds registers.last: transactions whose stop never comes
// (a charger that vanished) must not grow it without end. When full it is
// emptied; the next reading of each transaction costs one read.
const maxRemembered = 200_000

func registerKey(chargerID, tx string) txKey {
	return txKey{chargerID, tx}
}

func (r *registers) get(key txKey) (openTx, bool) {
	return r.getCached(key, nil)
}

// getCached is get through c (nil: none), which it fills.
func (r *registers) getCached(key txKey, c *TxCache) (openTx, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var p *openTx
	if c != nil && c.slot != nil && c.gen == r.gen && !c.slot.gone && c.key == key {
		p = c.slot
	} else {
		var ok bool
		if p, ok = r.last[key]; !ok {
			return openTx{}, false
		}
		if c != nil {
			*c = TxCache{key: key, slot: p, gen: r.gen}
		}
	}
	o := *p
	o.slot = p
	return o, true
}

// put remembers o unless a newer version of the same session is
// remembered already (two writers of one transaction racing).
func (r *registers) put(key txKey, o openTx) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil || len(r.last) >= maxRemembered {
		r.last = make(map[txKey]*openTx)
		r.gen++
	}
	p := r.last[key]
	if p == nil {
		p = new(openTx)
		r.last[key] = p
	}
	r.store(p, o)
}

// update remembers o, a copy got from get or readTx and written since,
// in the entry it came from. An entry forgotten (its transaction
// stopped) or dropped (the map was full) meanwhile takes it unseen: the
// transaction's next reading is then read from the store, as after a
// restart.
func (r *registers) update(key txKey, o openTx) {
	if o.slot == nil {
		r.put(key, o)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.store(o.slot, o)
}

// store writes o into p unless p holds a newer version of the same
// session (r.mu held).
func (r *registers) store(p *openTx, o openTx) {
	if p.seq == o.seq && p.version > o.version {
		return
	}
	o.slot, o.gone = nil, p.gone
	*p = o
}

func (r *registers) forget(key txKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.last[key]; p != nil {
		p.gone = true
	}
	delete(r.last, key)
}

// isRegister reports whether v is a reading of the session's energy
// register, as Observe counts it.
func isRegister(v *SampledValue) bool {
	return v.Numeric && v.Measurand == MeasurandEnergyImportRegister && v.Phase == "" &&
		(v.Location == "" || v.Location == "Outlet" || v.Location == "Cable" || v.Location == "EV")
}

// screenMeterValues flags the sampled values of m that must not reach the
// session's totals and records each case. last is the highest register
// reading of the transaction so far (-1: none known). stopData says m is
// a StopTransaction's transactionData, which holds the whole
// transaction's readings, Begin and periodic ones alike, by design.
func (s *Service) screenMeterValues(ctx context.Context, m *MeterValues, last float64, stopData bool) {
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
				continue
			}
			s.RecordViolation(ctx, Violation{ChargerID: m.ChargerID, Kind: v.Flagged, Outcome: ViolationFlagged,
				Example: registerExample(m, v, last)})
		}
	}
}

// openTx returns what the core remembers of the charger's transaction
// (looked up through c, when not nil), reading its session when it does
// not; ok is false when the charger has no such transaction.
func (s *Service) openTx(ctx context.Context, key txKey, c *TxCache, chargerID, tx string) (o openTx, ok bool, err error) {
	if o, ok := s.registers.getCached(key, c); ok {
		return o, true, nil
	}
	return s.readTx(ctx, key, chargerID, tx)
}

// readTx reads the charger's transaction's session from the store and
// remembers it.
func (s *Service) readTx(ctx context.Context, key txKey, chargerID, tx string) (o openTx, ok bool, err error) {
	sess, err := s.store.SessionByTransaction(ctx, chargerID, tx)
	if errors.Is(err, ErrNotFound) {
		return openTx{}, false, nil
	}
	if err != nil {
		return openTx{}, false, err
	}
	o = openTxOf(&sess)
	s.registers.put(key, o)
	return o, true, nil
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
