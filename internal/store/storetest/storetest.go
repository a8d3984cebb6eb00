// Package storetest is the storage contract of charging.Store as a test
// suite. Every implementation runs it against a real database:
//
//	func TestStore(t *testing.T) { storetest.Run(t, openTestStore) }
//
// The suite checks stored values, not just the absence of errors, so a
// store that drops or mangles data fails it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Run runs the contract suite. open returns a store on the database that
// belongs to t and closes it when t ends (t.Cleanup). The first call for a t
// gets an empty database; a later call with the same t opens that same
// database again, as a restarted process would. Before reopening, the suite
// closes the store through its Close() error method, which must therefore
// be idempotent; a store without Close skips the restart tests.
func Run(t *testing.T, open func(t *testing.T) charging.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) charging.Store)
	}{
		{"chargers", testChargers},
		{"record-boot", testRecordBoot},
		{"touch-charger", testTouchCharger},
		{"connector-status", testConnectorStatus},
		{"id-tags", testIDTags},
		{"delete-charger", testDeleteCharger},
		{"delete-id-tag", testDeleteIDTag},
		{"start-session", testStartSession},
		{"start-session-idempotent", testStartIdempotent},
		{"start-session-closes-open-session", testStartClosesOpen},
		{"transaction-ids", testTransactionIDs},
		{"transaction-ids-per-charger", testTransactionIDsPerCharger},
		{"draw-skips-taken-ids", testDrawSkipsTakenIDs},
		{"session-connector", testSessionConnector},
		{"concurrent-starts", testConcurrentStarts},
		{"meter-values", testMeterValues},
		{"meter-values-unattached", testMeterValuesUnattached},
		{"concurrent-meter-values", testConcurrentMeterValues},
		{"meter-compare-and-set", testMeterCompareAndSet},
		{"meter-version-bumped-by-every-meter-write", testMeterVersionBumped},
		{"stop-session", testStopSession},
		{"stop-session-repeated", testStopRepeated},
		{"stop-session-not-open", testStopNotOpen},
		{"stop-session-races-meter-writes", testStopRacesMeterWrites},
		{"get-session", testGetSession},
		{"list-sessions", testListSessions},
		{"list-sessions-paging-under-writes", testListSessionsUnderWrites},
		{"session-samples", testSessionSamples},
		{"active-session-for-tag", testActiveSessionForTag},
		{"events", testEvents},
		{"restart", testRestart},
		{"durability", testDurability},
		{"beckn-replay", testReplay},
		{"prune-events", testPruneEvents},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// Times have nanoseconds and zones other than UTC, so a store that rounds
// them or drops the instant fails. Compared with time.Time.Equal (cmp uses
// it), so the zone a store returns does not matter.
var (
	t0  = time.Date(2025, 6, 1, 8, 30, 0, 123456789, time.UTC)
	cet = time.FixedZone("CET", 3600)
)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ptr[T any](v T) *T { return &v }

// cmpOpts treats nil and empty slices alike: the contract does not say which
// an empty list is. A session's Seq and MeterVersion are the store's
// bookkeeping, checked by the meter tests (meter.go) rather than in every
// comparison.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty(), cmpopts.IgnoreFields(charging.Session{}, "Seq", "MeterVersion")}

func diff(want, got any) string { return cmp.Diff(want, got, cmpOpts...) }

type closer interface{ Close() error }

// reopen closes st and opens its database again.
func reopen(t *testing.T, st charging.Store, open func(t *testing.T) charging.Store) charging.Store {
	t.Helper()
	c, ok := st.(closer)
	if !ok {
		t.Skip("store has no Close() error method; restart not testable")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return open(t)
}

func createCharger(t *testing.T, st charging.Store, id string) charging.Charger {
	t.Helper()
	c := charging.Charger{ID: id, Registered: true, CreatedAt: t0}
	if err := st.CreateCharger(t.Context(), c); err != nil {
		t.Fatalf("CreateCharger(%s): %v", id, err)
	}
	return c
}

// starter makes StartSession requests with distinct keys and times.
type starter struct {
	n int
}

func (s *starter) req(charger string, connector int, tag string) charging.StartSession {
	s.n++
	return charging.StartSession{
		ID:           fmt.Sprintf("sess-%04d", s.n),
		StartKey:     fmt.Sprintf("%s|%d|%s|%d", charger, connector, tag, s.n),
		ChargerID:    charger,
		ConnectorID:  connector,
		IDTag:        tag,
		Status:       charging.SessionActive,
		MeterStartWh: int64(1000 * s.n),
		StartedAt:    at(time.Duration(s.n) * time.Minute),
		ReceivedAt:   at(time.Duration(s.n)*time.Minute + time.Second),
	}
}

func start(t *testing.T, st charging.Store, r charging.StartSession) charging.Session {
	t.Helper()
	sess, created, err := st.StartSession(t.Context(), r)
	if err != nil {
		t.Fatalf("StartSession(%s): %v", r.ID, err)
	}
	if !created {
		t.Fatalf("StartSession(%s): got created false; want true", r.ID)
	}
	return sess
}

func getSession(t *testing.T, st charging.Store, id string) charging.Session {
	t.Helper()
	s, err := st.GetSession(t.Context(), id)
	if err != nil {
		t.Fatalf("GetSession(%s): %v", id, err)
	}
	return s
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v; want %v", what, err, want)
	}
}

// sv is a numeric Outlet sampled value in canonical units.
func sv(measurand string, v float64, unit string) charging.SampledValue {
	return charging.SampledValue{
		Measurand: measurand, Location: "Outlet", Context: "Sample.Periodic", Unit: unit,
		Value: v, Numeric: true, Raw: fmt.Sprint(v), RawUnit: unit,
	}
}

func register(kwh float64) charging.SampledValue {
	return sv(charging.MeasurandEnergyImportRegister, kwh, "kWh")
}

func power(kw float64) charging.SampledValue { return sv(charging.MeasurandPowerImport, kw, "kW") }

func soc(pct float64) charging.SampledValue { return sv(charging.MeasurandSoC, pct, "Percent") }

func sample(ts time.Time, vs ...charging.SampledValue) charging.MeterSample {
	return charging.MeterSample{Timestamp: ts, Values: vs}
}

func appendValues(t *testing.T, st charging.Store, m charging.MeterValues) bool {
	t.Helper()
	found, err := foldAndWrite(t.Context(), st, m)
	if err != nil {
		t.Fatalf("WriteMeterValues: %v", err)
	}
	return found
}

// foldAndWrite does with m what the core does: it reads the session of
// m's transaction, folds m into it (charging.Fold) and writes the samples
// and the folded meter by the session's primary key over its meter
// version, reading and folding again when another writer moved the
// version on. found is false when m names no session of its charger (the
// samples are then stored unattached).
func foldAndWrite(ctx context.Context, st charging.SessionStore, m charging.MeterValues) (found bool, err error) {
	for {
		w := charging.MeterWrite{MeterValues: m}
		if m.TransactionID != nil {
			sess, err := st.SessionByTransaction(ctx, m.ChargerID, *m.TransactionID)
			switch {
			case err == nil:
				folded, _ := charging.Fold(sess, m)
				w.Seq, w.Version, w.Meter = sess.Seq, sess.MeterVersion, folded.Meter()
			case !errors.Is(err, charging.ErrNotFound):
				return false, err
			}
		}
		err := st.WriteMeterValues(ctx, w)
		if errors.Is(err, charging.ErrConflict) && w.Seq != 0 {
			continue
		}
		return w.Seq != 0, err
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }
