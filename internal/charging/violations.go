package charging

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/chargebridge/chargebridge/internal/ratelog"
)

// Violation is one thing a charger sent against its protocol's
// specification (or against physics: a register that goes backwards), and
// what the central system did with it.
type Violation struct {
	ChargerID string
	// Kind names the case, in kebab-case: "timestamp-without-zone",
	// "string-too-long", "unknown-enum", "status-out-of-order",
	// "meter-start-negative", "connector-out-of-range",
	// "register-implausible", "register-backwards", "begin-and-periodic",
	// "stop-unknown-transaction", "schema".
	Kind string
	// Outcome is ViolationTolerated, ViolationRefused or ViolationFlagged.
	Outcome string
	// Example is the offending value or an excerpt; it is clipped to
	// MaxViolationExample bytes.
	Example string
	// At is when it was seen; zero means the service's clock now.
	At time.Time
}

// Violation outcomes.
const (
	// ViolationTolerated: accepted as sent (or read leniently) and logged.
	ViolationTolerated = "tolerated"
	// ViolationRefused: answered with the protocol's error.
	ViolationRefused = "refused"
	// ViolationFlagged: stored as reported but not applied to totals.
	ViolationFlagged = "flagged"
)

// MaxViolationExample is how many bytes of a violation's example are kept.
const MaxViolationExample = 200

// DocViolation is the document kind of a charger's violation records
// (one document per charger, kind and outcome, owned by the charger).
const DocViolation = "violation"

// ViolationRecord is a charger's tally of one kind of violation with one
// outcome: how often, and the last example.
type ViolationRecord struct {
	ChargerID   string    `json:"charger_id"`
	Kind        string    `json:"kind"`
	Outcome     string    `json:"outcome"`
	Count       int64     `json:"count"`
	LastExample string    `json:"last_example"`
	FirstAt     time.Time `json:"first_at"`
	LastAt      time.Time `json:"last_at"`
}

// ViolationCount is how many violations of a kind with an outcome were
// recorded since the service started, over all chargers (for /metrics).
type ViolationCount struct {
	Kind, Outcome string
	N             int64
}

// violations is the Service's record keeping of violations.
type violations struct {
	// mu guards the fields below.
	mu     sync.Mutex
	counts map[[2]string]int64
	// recs caches the stored records; each has its own lock, held across
	// its store write, so a charger's count is never written out of order.
	recs map[string]*violationEntry
	logs *ratelog.Limiter
}

type violationEntry struct {
	mu     sync.Mutex
	loaded bool
	rec    ViolationRecord
}

func violationDocID(chargerID, kind, outcome string) string {
	return chargerID + "/" + kind + "/" + outcome
}

// RecordViolation counts v for its charger (kind, outcome, count, last
// example, last time), durably when the store keeps documents, logs one
// line (sampled: one per charger and kind per 10 s, saying how many were
// held back) and counts it for /metrics (ViolationCounts). It never fails
// the caller's request: a store error is logged.
func (s *Service) RecordViolation(ctx context.Context, v Violation) {
	if v.At.IsZero() {
		v.At = s.clock.Now()
	}
	v.Example = clipUTF8(v.Example, MaxViolationExample)
	vs := &s.viol
	key := violationDocID(v.ChargerID, v.Kind, v.Outcome)

	vs.mu.Lock()
	if vs.counts == nil {
		vs.counts = make(map[[2]string]int64)
		vs.recs = make(map[string]*violationEntry)
		vs.logs = ratelog.New(10*time.Second, 50)
	}
	vs.counts[[2]string{v.Kind, v.Outcome}]++
	e := vs.recs[key]
	if e == nil {
		if len(vs.recs) >= 100_000 {
			clear(vs.recs) // a cache only: the store has the records
		}
		e = &violationEntry{}
		vs.recs[key] = e
	}
	logs := vs.logs
	vs.mu.Unlock()

	if ok, held := logs.Allow(v.ChargerID+"\x00"+v.Kind, v.At); ok {
		s.log.Info("violation recorded", "charger", v.ChargerID, "kind", v.Kind, "outcome", v.Outcome, "example", clipUTF8(v.Example, 64), "held_back", held)
	}

	ds, err := s.full()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.loaded {
		e.rec = ViolationRecord{ChargerID: v.ChargerID, Kind: v.Kind, Outcome: v.Outcome, FirstAt: v.At}
		if err == nil {
			d, gerr := ds.GetDoc(ctx, DocViolation, key)
			switch {
			case gerr == nil:
				if uerr := unmarshalDoc(d.Body, &e.rec); uerr != nil {
					s.log.Warn("stored violation record unreadable; counting again from 0", "charger", v.ChargerID, "kind", v.Kind, "err", uerr)
					e.rec = ViolationRecord{ChargerID: v.ChargerID, Kind: v.Kind, Outcome: v.Outcome, FirstAt: v.At}
				}
			case errors.Is(gerr, ErrNotFound):
			default:
				s.log.Error("reading violation record failed", "charger", v.ChargerID, "kind", v.Kind, "err", gerr)
				return
			}
		}
		e.loaded = true
	}
	e.rec.Count++
	e.rec.LastExample = v.Example
	if v.At.After(e.rec.LastAt) {
		e.rec.LastAt = v.At
	}
	if err != nil {
		return // no document store: the count lives in memory only
	}
	body, merr := marshalDoc(e.rec)
	if merr != nil {
		s.log.Error("encoding violation record failed", "err", merr)
		return
	}
	if perr := ds.PutDoc(ctx, Doc{Kind: DocViolation, ID: key, Owner: v.ChargerID, Body: body, Updated: e.rec.LastAt}); perr != nil {
		// Load again next time: the stored count is behind the cached one.
		e.loaded = false
		s.log.Error("storing violation record failed", "charger", v.ChargerID, "kind", v.Kind, "err", perr)
	}
}

// Violations returns a charger's violation records, most recent first.
// ErrNotSupported when the store keeps no documents.
func (s *Service) Violations(ctx context.Context, chargerID string) ([]ViolationRecord, error) {
	ds, err := s.full()
	if err != nil {
		return nil, err
	}
	docs, _, err := ds.ListDocs(ctx, DocQuery{Kind: DocViolation, Owner: chargerID, Newest: true, Limit: 1000})
	if err != nil {
		return nil, fmt.Errorf("violations of %s: %w", chargerID, err)
	}
	out := make([]ViolationRecord, 0, len(docs))
	for _, d := range docs {
		var r ViolationRecord
		if err := unmarshalDoc(d.Body, &r); err != nil {
			return nil, fmt.Errorf("violation record %s: %w", d.ID, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// ViolationCounts returns how many violations of each kind and outcome were
// recorded since the service started, sorted by kind then outcome.
func (s *Service) ViolationCounts() []ViolationCount {
	s.viol.mu.Lock()
	out := make([]ViolationCount, 0, len(s.viol.counts))
	for k, n := range s.viol.counts {
		out = append(out, ViolationCount{Kind: k[0], Outcome: k[1], N: n})
	}
	s.viol.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Outcome < out[j].Outcome
	})
	return out
}

// clipUTF8 shortens s to at most n bytes without cutting a character.
func clipUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	// Drop the bytes of a character cut in two (at most UTFMax-1).
	for i := 0; i < utf8.UTFMax-1 && len(s) > 0; i++ {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size > 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}
