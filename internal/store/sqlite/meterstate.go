package sqlite

import (
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// A MeterValues' fold of the session's meter is journalled with its
// samples (journal.go) and written to session_meter later, not by an
// UPDATE per call: that UPDATE and the pages of session_meter each commit
// dirtied were about a quarter of the writer's time (#16). The writer
// keeps every session's meter it has journalled and not yet written
// (dirty), and the versions of those it knows, in memory; the
// compare-and-set of a MeterValues is checked there (or, for a session it
// does not know, against session_meter). A dirty meter is written to
// session_meter:
//
//   - with its session's segment, in the round (so a journal row is only
//     deleted once every meter folded in it is in session_meter);
//   - before any write operation that may read or write session_meter
//     (every operation but MeterValues and those made by writeOther),
//     which also forgets every version known, as such an operation may
//     move one on;
//   - at start, from the journal, after a crash.
//
// Reads outside the writer overlay the meters committed and not yet in
// session_meter (meterOverlay), by version: a read sees every
// acknowledged MeterValues.

// meterState is a session's meter as the writer knows it.
type meterState struct {
	version int64
	dirty   bool   // journalled, not in session_meter
	rec     []byte // the meter in the journal's form (dirty only)
}

// The journal's form of a meter: uvarint version | byte mask of the
// optional fields present | float64 bits of last register, max power |
// then, each if present: last power (float64 bits), its time (varint),
// SoC (float64 bits), its time (varint), last updated (varint).
const (
	meterHasPower = 1 << iota
	meterHasPowerAt
	meterHasSoC
	meterHasSoCAt
	meterHasUpdated
)

// appendMeterRecord appends mt at version in the journal's form.
func appendMeterRecord(b []byte, version int64, mt *charging.Meter) ([]byte, error) {
	var mask byte
	var powerAt, socAt int64
	var hasPowerAt, hasSoCAt bool
	var err error
	if mt.LastPowerAt != nil {
		if powerAt, hasPowerAt, err = nanos(*mt.LastPowerAt); err != nil {
			return b, err
		}
	}
	if mt.SoCAt != nil {
		if socAt, hasSoCAt, err = nanos(*mt.SoCAt); err != nil {
			return b, err
		}
	}
	updated, hasUpdated, err := nanos(mt.LastUpdated)
	if err != nil {
		return b, err
	}
	if mt.LastPowerKW != nil {
		mask |= meterHasPower
	}
	if hasPowerAt {
		mask |= meterHasPowerAt
	}
	if mt.SoC != nil {
		mask |= meterHasSoC
	}
	if hasSoCAt {
		mask |= meterHasSoCAt
	}
	if hasUpdated {
		mask |= meterHasUpdated
	}
	b = binary.AppendUvarint(b, uint64(version))
	b = append(b, mask)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(mt.LastRegisterWh))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(mt.MaxPowerKW))
	if mt.LastPowerKW != nil {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(*mt.LastPowerKW))
	}
	if hasPowerAt {
		b = binary.AppendVarint(b, powerAt)
	}
	if mt.SoC != nil {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(*mt.SoC))
	}
	if hasSoCAt {
		b = binary.AppendVarint(b, socAt)
	}
	if hasUpdated {
		b = binary.AppendVarint(b, updated)
	}
	return b, nil
}

var errMeterRecord = errors.New("malformed meter record")

// meterRecord is a meter record decoded: the values of sqlFlushMeter.
type meterRecord struct {
	version                     int64
	register, maxPower          float64
	power, soc                  sql.NullFloat64
	powerAt, socAt, lastUpdated sql.NullInt64
}

func decodeMeterRecord(b []byte) (meterRecord, error) {
	var r meterRecord
	v, k := binary.Uvarint(b)
	if k <= 0 || len(b) < k+17 {
		return r, errMeterRecord
	}
	r.version = int64(v)
	mask := b[k]
	b = b[k+1:]
	f := func() float64 {
		x := math.Float64frombits(binary.LittleEndian.Uint64(b))
		b = b[8:]
		return x
	}
	var err error
	t := func() int64 {
		n, k := binary.Varint(b)
		if k <= 0 {
			err = errMeterRecord
			return 0
		}
		b = b[k:]
		return n
	}
	r.register, r.maxPower = f(), f()
	if mask&meterHasPower != 0 {
		if len(b) < 8 {
			return r, errMeterRecord
		}
		r.power = sql.NullFloat64{Float64: f(), Valid: true}
	}
	if mask&meterHasPowerAt != 0 {
		r.powerAt = sql.NullInt64{Int64: t(), Valid: err == nil}
	}
	if mask&meterHasSoC != 0 {
		if len(b) < 8 {
			return r, errMeterRecord
		}
		r.soc = sql.NullFloat64{Float64: f(), Valid: true}
	}
	if mask&meterHasSoCAt != 0 {
		r.socAt = sql.NullInt64{Int64: t(), Valid: err == nil}
	}
	if mask&meterHasUpdated != 0 {
		r.lastUpdated = sql.NullInt64{Int64: t(), Valid: err == nil}
	}
	if err != nil || len(b) != 0 || mask >= meterHasUpdated<<1 {
		return r, errMeterRecord
	}
	return r, nil
}

// meter returns the record as the core's meter.
func (r *meterRecord) meter() charging.Meter {
	mt := charging.Meter{LastRegisterWh: r.register, MaxPowerKW: r.maxPower,
		LastPowerKW: decFloat(r.power), SoC: decFloat(r.soc), LastUpdated: decTime(r.lastUpdated)}
	if mt.LastPowerKW != nil {
		mt.LastPowerAt = decTimePtr(r.powerAt)
	}
	if mt.SoC != nil {
		mt.SoCAt = decTimePtr(r.socAt)
	}
	return mt
}

// args are the arguments of sqlFlushMeter for session seq.
func (r *meterRecord) args(nv []driver.NamedValue, seq int64) []driver.NamedValue {
	val := func(ok bool, v any) any {
		if !ok {
			return nil
		}
		return v
	}
	for i, v := range []any{r.register, r.maxPower, val(r.power.Valid, r.power.Float64), val(r.powerAt.Valid, r.powerAt.Int64),
		val(r.soc.Valid, r.soc.Float64), val(r.socAt.Valid, r.socAt.Int64), val(r.lastUpdated.Valid, r.lastUpdated.Int64), seq, r.version} {
		nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	return nv
}

const (
	// sqlFlushMeter writes a session's meter as the writer holds it: the
	// writer is the only one to change it, so there is no compare.
	sqlFlushMeter = `UPDATE session_meter SET last_register_wh = ?1, max_power_kw = ?2, last_power_kw = ?3, last_power_at = ?4,
	soc = ?5, soc_at = ?6, last_updated = ?7, version = ?9 WHERE seq = ?8`
	sqlMeterVersion = `SELECT version FROM session_meter WHERE seq = ?1`
)

// meters is the writer's state of the sessions' meters. Only the writer
// goroutine uses it; what it knows changes only once a transaction has
// committed.
type meters struct {
	flush, version driver.Stmt

	known map[int64]*meterState // committed

	// This transaction's: the meters its MeterValues folded, whether it
	// wrote and forgot every meter (forgot), and the meters its round
	// step wrote.
	tx      map[int64]*meterState
	forgot  bool
	flushed []int64
	// spare holds the last transaction's meterStates for the next one's
	// (one fewer allocation per MeterValues).
	spare []*meterState

	overlay *meterOverlay
	nv      []driver.NamedValue
}

func (m *meters) prepare(p func(string) driver.Stmt) {
	m.flush = p(sqlFlushMeter)
	m.version = p(sqlMeterVersion)
	m.known = map[int64]*meterState{}
	m.tx = map[int64]*meterState{}
}

// begin starts a transaction.
func (m *meters) begin() {
	for _, st := range m.tx {
		m.spare = append(m.spare, st)
	}
	clear(m.tx)
	m.forgot = false
	m.flushed = m.flushed[:0]
}

// meterVersion returns the version of session seq's meter in this
// transaction, reading session_meter when the writer does not know it;
// found is false when the session has no meter.
func (w *writer) meterVersion(seq int64) (version int64, found bool, err error) {
	m := &w.jr.m
	if st, ok := m.tx[seq]; ok {
		return st.version, true, nil
	}
	if !m.forgot {
		if st, ok := m.known[seq]; ok {
			return st.version, true, nil
		}
	}
	// A variable of its own: Scan's pointer moves it to the heap, which
	// for the named result cost an allocation on every call.
	var v int64
	err = w.queryRow(m.version, seq).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return v, err == nil, err
}

// fold notes session seq's meter at version, rec in the journal's form,
// in this transaction.
func (m *meters) fold(seq, version int64, rec []byte) {
	st := m.tx[seq]
	if st == nil {
		if k := len(m.spare); k > 0 {
			st, m.spare = m.spare[k-1], m.spare[:k-1]
			*st = meterState{}
		} else {
			st = &meterState{}
		}
		m.tx[seq] = st
	}
	st.version, st.dirty, st.rec = version, true, rec
}

// flushMeter writes session seq's meter to session_meter if it is dirty.
func (w *writer) flushMeter(seq int64) error {
	m := &w.jr.m
	st, ok := m.tx[seq]
	if !ok && !m.forgot {
		st, ok = m.known[seq]
	}
	if !ok || !st.dirty {
		return nil
	}
	r, err := decodeMeterRecord(st.rec)
	if err != nil {
		return fmt.Errorf("meter of session %d: %w", seq, err)
	}
	m.nv = r.args(m.nv[:0], seq)
	if _, err := w.execArgs(m.flush, m.nv); err != nil {
		return fmt.Errorf("write meter of session %d: %w", seq, err)
	}
	m.flushed = append(m.flushed, seq)
	return nil
}

// flushAll writes every dirty meter to session_meter and forgets every
// version, before an operation that may read or change them.
func (w *writer) flushAllMeters() error {
	m := &w.jr.m
	// What this writes is forgotten, not marked clean: flushed is for the
	// round's step.
	defer func(n int) { m.flushed = m.flushed[:n] }(len(m.flushed))
	if !m.forgot {
		for seq, st := range m.known {
			if _, ok := m.tx[seq]; !ok && st.dirty {
				if err := w.flushMeter(seq); err != nil {
					return err
				}
			}
		}
	}
	for seq := range m.tx {
		if err := w.flushMeter(seq); err != nil {
			return err
		}
	}
	clear(m.tx)
	m.forgot = true
	return nil
}

// committed applies the transaction once it has committed.
func (m *meters) committed(now time.Time) {
	o := m.overlay
	o.mu.Lock()
	defer o.mu.Unlock()
	if m.forgot {
		for seq, st := range m.known {
			if st.dirty {
				o.flushedLocked(seq, now)
			}
		}
		clear(m.known)
	}
	for seq, st := range m.tx {
		k := m.known[seq]
		if k == nil {
			k = &meterState{}
			m.known[seq] = k
		}
		k.version, k.dirty = st.version, true
		k.rec = append(k.rec[:0], st.rec...)
		o.setLocked(seq, st.version, st.rec)
	}
	for _, seq := range m.flushed {
		if k := m.known[seq]; k != nil {
			k.dirty = false
		}
		o.flushedLocked(seq, now)
	}
	m.begin()
}

// meterOverlay holds, for reads, the meters committed in the journal and
// maybe not in session_meter yet, and for a while after they were
// written there (a read's snapshot may be older than that write). It
// keeps them in the journal's form: they are decoded by the few reads
// that need them, not by the writer.
type meterOverlay struct {
	mu sync.RWMutex
	m  map[int64]*overlaid
}

type overlaid struct {
	version   int64
	rec       []byte
	flushedAt time.Time // zero: not written to session_meter
}

// overlayKeep is how long a meter stays overlaid after it was written to
// session_meter.
const overlayKeep = time.Minute

func (o *meterOverlay) setLocked(seq, version int64, rec []byte) {
	if o.m == nil {
		o.m = map[int64]*overlaid{}
	}
	e := o.m[seq]
	if e == nil {
		e = &overlaid{}
		o.m[seq] = e
	}
	e.version, e.rec, e.flushedAt = version, append(e.rec[:0], rec...), time.Time{}
}

func (o *meterOverlay) flushedLocked(seq int64, now time.Time) {
	if e := o.m[seq]; e != nil && e.flushedAt.IsZero() {
		e.flushedAt = now
	}
}

// sweep forgets the meters written to session_meter before now-overlayKeep.
func (o *meterOverlay) sweep(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for seq, e := range o.m {
		if !e.flushedAt.IsZero() && now.Sub(e.flushedAt) > overlayKeep {
			delete(o.m, seq)
		}
	}
}

// apply gives s the overlaid meter of its session when it is newer than
// the one read.
func (o *meterOverlay) apply(s *charging.Session) {
	o.mu.RLock()
	var r meterRecord
	var err error
	e := o.m[s.Seq]
	newer := e != nil && e.version > s.MeterVersion
	if newer {
		r, err = decodeMeterRecord(e.rec)
	}
	o.mu.RUnlock()
	if newer && err == nil {
		s.SetMeter(r.meter())
		s.MeterVersion = r.version
	}
}
