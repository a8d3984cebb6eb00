package charging_test

// The Service is tested against the real SQLite store in a temporary file.
// internal/charging cannot import the stores (they import it), but this
// external test package can: deps_test.go reads the package's own imports
// (build.Package.Imports), which do not include those of _test files, so the
// rule "the core imports no SQL package" still holds for the code that ships.

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/sqlite"
)

// core is a Service on a fresh SQLite file, with its clock, its log and the
// events it published.
type core struct {
	svc   *charging.Service
	store *sqlite.Store
	clock *fixedClock
	logs  *syncBuffer

	mu     sync.Mutex
	events []charging.Event
}

// syncBuffer is a log sink safe for the Service's concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func newCore(t *testing.T, cfg charging.Config) *core {
	t.Helper()
	st := openViolationStore(t, filepath.Join(t.TempDir(), "cb.db"))
	return newCoreOn(t, st, cfg)
}

// newCoreOn is a Service on an existing store (a restart).
func newCoreOn(t *testing.T, st *sqlite.Store, cfg charging.Config) *core {
	t.Helper()
	c := &core{store: st, clock: &fixedClock{t: t0}, logs: &syncBuffer{}}
	c.svc = charging.NewService(st, c.clock, slog.New(slog.NewTextHandler(c.logs, nil)), cfg)
	c.svc.Subscribe(func(e charging.Event) {
		c.mu.Lock()
		c.events = append(c.events, e)
		c.mu.Unlock()
	})
	return c
}

// take returns the events published since the last call.
func (c *core) take() []charging.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.events
	c.events = nil
	return out
}

// tick advances the clock.
func (c *core) tick(d time.Duration) { c.clock.t = c.clock.t.Add(d) }

func (c *core) charger(t *testing.T, id string) charging.Charger {
	t.Helper()
	ch, err := c.svc.RegisterCharger(context.Background(), charging.Charger{ID: id})
	if err != nil {
		t.Fatalf("RegisterCharger(%s): %v", id, err)
	}
	return ch
}

func (c *core) tag(t *testing.T, tag charging.IDTag) {
	t.Helper()
	if _, err := c.svc.RegisterTag(context.Background(), tag); err != nil {
		t.Fatalf("RegisterTag(%s): %v", tag.ID, err)
	}
}

func (c *core) start(t *testing.T, r charging.StartRequest) charging.StartResult {
	t.Helper()
	if r.Timestamp.IsZero() {
		r.Timestamp = c.clock.t
	}
	res, err := c.svc.StartTransaction(context.Background(), r)
	if err != nil {
		t.Fatalf("StartTransaction(%+v): %v", r, err)
	}
	return res
}

func (c *core) session(t *testing.T, id string) charging.Session {
	t.Helper()
	s, err := c.store.GetSession(context.Background(), id)
	if err != nil {
		t.Fatalf("GetSession(%s): %v", id, err)
	}
	return s
}

func (c *core) violations(t *testing.T, chargerID string) map[string]int64 {
	t.Helper()
	recs, err := c.svc.Violations(context.Background(), chargerID)
	if err != nil {
		t.Fatalf("Violations(%s): %v", chargerID, err)
	}
	out := map[string]int64{}
	for _, r := range recs {
		out[r.Kind+"/"+r.Outcome] = r.Count
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// register is an energy register reading in kWh.
func register(kwh float64, context string) charging.SampledValue {
	return charging.SampledValue{Measurand: charging.MeasurandEnergyImportRegister, Value: kwh, Numeric: true,
		Raw: "x", Unit: "kWh", Context: context}
}
