package pricing_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/store/sqlite"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// clock is a settable clock (cbtest's would pull in the whole server).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	svc    *charging.Service
	clock  *clock
	cat    *pricing.Catalog
	pricer *pricing.Pricer
	docs   charging.DocStore
	store  *sqlite.Store
	tags   int // id tags used, so that no start repeats an earlier one
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func setup(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "pricing.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := &clock{t: t0}
	log := slog.New(slog.DiscardHandler)
	svc := charging.NewService(st, clock, log, charging.Config{AcceptUnknownTags: true})
	docs, err := svc.Docs()
	if err != nil {
		t.Fatal(err)
	}
	cat := pricing.NewCatalog(docs, st, clock, nil)
	return &fixture{svc: svc, clock: clock, cat: cat, pricer: pricing.NewPricer(cat, docs, st, clock, log), docs: docs, store: st}
}

// energyTariff is a tariff of price per kWh excl. VAT with 20% VAT.
func energyTariff(id, price string) *tariff.Tariff {
	vat := tariff.N("20")
	return &tariff.Tariff{CountryCode: "NL", PartyID: "CBR", ID: id, Currency: "EUR", Elements: []tariff.TariffElement{{
		PriceComponents: []tariff.PriceComponent{{Type: "ENERGY", Price: tariff.N(price), VAT: &vat, StepSize: 1}},
	}}}
}

func (f *fixture) putTariff(t testing.TB, tr *tariff.Tariff) {
	t.Helper()
	if _, err := f.cat.PutTariff(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) assign(t testing.TB, a pricing.Assignment) {
	t.Helper()
	if _, err := f.cat.Assign(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) charger(t testing.TB, id string) {
	t.Helper()
	if _, err := f.svc.RegisterCharger(context.Background(), charging.Charger{ID: id}); err != nil {
		t.Fatal(err)
	}
}

// session runs a transaction on a connector that charges kwh in an hour
// starting at t0 (register from 1000 Wh) and stops it unless stop is false.
func (f *fixture) session(t testing.TB, charger string, connector int, kwh int64, stop bool) charging.Session {
	t.Helper()
	ctx := context.Background()
	f.tags++
	res, err := f.svc.StartTransaction(ctx, charging.StartRequest{ChargerID: charger, ConnectorID: connector, IDTag: fmt.Sprintf("TAG-%d", f.tags), MeterStartWh: 1000, Timestamp: t0})
	if err != nil {
		t.Fatal(err)
	}
	tx := res.Session.TransactionID
	half := charging.MeterSample{Timestamp: t0.Add(30 * time.Minute), Values: []charging.SampledValue{
		{Measurand: charging.MeasurandEnergyImportRegister, Value: float64(1000+kwh*500) / 1000, Numeric: true},
		{Measurand: charging.MeasurandPowerImport, Value: float64(kwh), Numeric: true},
	}}
	if err := f.svc.MeterValues(ctx, charging.MeterValues{ChargerID: charger, ConnectorID: connector, TransactionID: &tx, Samples: []charging.MeterSample{half}}); err != nil {
		t.Fatal(err)
	}
	if stop {
		if _, err := f.svc.StopTransaction(ctx, charging.StopRequest{ChargerID: charger, TransactionID: tx, MeterStopWh: 1000 + kwh*1000, Timestamp: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := f.svc.Store().SessionByTransaction(ctx, charger, tx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) price(t testing.TB, s charging.Session) *pricing.Priced {
	t.Helper()
	p, err := f.pricer.Price(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func cost(p *pricing.Priced) string {
	if p == nil {
		return "none"
	}
	c := p.TotalCost()
	return fmt.Sprintf("%s %s/%s %s", p.TariffID, c.ExclVAT, c.InclVAT, p.Currency)
}

func TestTariffChoice(t *testing.T) {
	f := setup(t)
	f.charger(t, "CP-1")
	f.charger(t, "CP-2")
	f.charger(t, "CP-3")
	f.putTariff(t, energyTariff("CONNECTOR", "0.30"))
	f.putTariff(t, energyTariff("CHARGER", "0.40"))
	f.putTariff(t, energyTariff("DEFAULT", "0.25"))
	// Before any assignment nothing is priced.
	if got := cost(f.price(t, f.session(t, "CP-3", 1, 10, false))); got != "none" {
		t.Fatalf("without assignments got %s; want none", got)
	}
	f.assign(t, pricing.Assignment{Default: true, TariffID: "DEFAULT"})
	f.assign(t, pricing.Assignment{ChargerID: "CP-1", TariffID: "CHARGER"})
	f.assign(t, pricing.Assignment{ChargerID: "CP-1", ConnectorID: 1, TariffID: "CONNECTOR"})
	tests := []struct {
		charger   string
		connector int
		want      string
	}{
		// 10 kWh × 0.30 = 3.00, × 1.2 = 3.60.
		{"CP-1", 1, "CONNECTOR 3/3.6 EUR"},
		// 10 kWh × 0.40 = 4.00, × 1.2 = 4.80.
		{"CP-1", 2, "CHARGER 4/4.8 EUR"},
		// 10 kWh × 0.25 = 2.50, × 1.2 = 3.00.
		{"CP-2", 1, "DEFAULT 2.5/3 EUR"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%d", tt.charger, tt.connector), func(t *testing.T) {
			if got := cost(f.price(t, f.session(t, tt.charger, tt.connector, 10, true))); got != tt.want {
				t.Fatalf("got %s; want %s", got, tt.want)
			}
		})
	}
	as, err := f.cat.Assignments(context.Background())
	if err != nil || len(as) != 3 || !as[0].Default || as[1].ConnectorID != 0 || as[2].ConnectorID != 1 {
		t.Fatalf("assignments = %+v, %v; want default, CP-1, CP-1/1", as, err)
	}
	// Unassigning the connector falls back to the charger's tariff.
	f.assign(t, pricing.Assignment{ChargerID: "CP-1", ConnectorID: 1})
	if got := cost(f.price(t, f.session(t, "CP-1", 1, 10, false))); got != "CHARGER 2/2.4 EUR" {
		t.Fatalf("after unassigning connector 1 got %s; want the charger's tariff on 5 kWh so far", got)
	}
}

func TestFinishedPriceIsKept(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	f.charger(t, "CP-1")
	f.putTariff(t, energyTariff("T", "0.30"))
	f.assign(t, pricing.Assignment{Default: true, TariffID: "T"})
	s := f.session(t, "CP-1", 1, 10, true)
	first := f.price(t, s)
	if !first.Final || cost(first) != "T 3/3.6 EUR" {
		t.Fatalf("got %s final %v; want T 3/3.6 EUR, final", cost(first), first.Final)
	}
	// The tariff changes and the session is viewed again: same price.
	f.putTariff(t, energyTariff("T", "0.99"))
	f.clock.Advance(time.Hour)
	if got := cost(f.price(t, s)); got != "T 3/3.6 EUR" {
		t.Fatalf("after a tariff change got %s; want the price at stop", got)
	}
	d, err := f.docs.GetDoc(ctx, pricing.DocSessionPrice, s.ID)
	if err != nil {
		t.Fatalf("no session_price document: %v", err)
	}
	var stored map[string]any
	if err := json.Unmarshal(d.Body, &stored); err != nil || stored["priced"] == nil {
		t.Fatalf("session_price = %s (%v)", d.Body, err)
	}
	// A session that ended without a tariff stays unpriced.
	if _, err := f.cat.Assign(ctx, pricing.Assignment{Default: true}); err != nil {
		t.Fatal(err)
	}
	bare := f.session(t, "CP-1", 2, 5, true)
	if p := f.price(t, bare); p != nil {
		t.Fatalf("priced without a tariff: %s", cost(p))
	}
	f.assign(t, pricing.Assignment{Default: true, TariffID: "T"})
	if p := f.price(t, bare); p != nil {
		t.Fatalf("a finished session was priced with a tariff assigned after it ended: %s", cost(p))
	}
}

func TestFinalPriceFromEvents(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.pricer.Run(ctx, f.store) }()
	defer func() { cancel(); <-done }()
	f.charger(t, "CP-1")
	f.putTariff(t, energyTariff("T", "0.30"))
	f.assign(t, pricing.Assignment{Default: true, TariffID: "T"})
	s := f.session(t, "CP-1", 1, 10, true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := f.docs.GetDoc(ctx, pricing.DocSessionPrice, s.ID); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the finished session was not priced in the background")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunningEstimate(t *testing.T) {
	f := setup(t)
	f.charger(t, "CP-1")
	vat := tariff.N("10")
	// 0.20/kWh and 2.00/h of charging, 10% VAT.
	f.putTariff(t, &tariff.Tariff{CountryCode: "NL", PartyID: "CBR", ID: "T", Currency: "EUR", Elements: []tariff.TariffElement{{
		PriceComponents: []tariff.PriceComponent{{Type: "ENERGY", Price: tariff.N("0.20"), VAT: &vat}, {Type: "TIME", Price: tariff.N("2.00"), VAT: &vat}},
	}}})
	f.assign(t, pricing.Assignment{ChargerID: "CP-1", TariffID: "T"})
	s := f.session(t, "CP-1", 1, 10, false) // 5 kWh by t0+30m, at 10 kW
	f.clock.Set(t0.Add(30 * time.Minute))
	// 5 kWh × 0.20 + 0.5 h × 2.00 = 2.00 excl., 2.20 incl.
	if got := cost(f.price(t, s)); got != "T 2/2.2 EUR" {
		t.Fatalf("at 30 min got %s; want T 2/2.2 EUR", got)
	}
	// Ten minutes on without a new sample: the last one said 10 kW, so the
	// time counts as charging; energy holds at the last reading.
	f.clock.Set(t0.Add(40 * time.Minute))
	// 5 kWh × 0.20 + 2/3 h × 2.00 = 2.3333… excl., 2.5666… incl. (VAT on the
	// unrounded amount), totals in cents: 2.33 and 2.57.
	p := f.price(t, s)
	if got := cost(p); got != "T 2.33/2.57 EUR" || p.Final || !p.Until.Equal(t0.Add(40*time.Minute)) {
		t.Fatalf("at 40 min got %s (final %v, until %s); want T 2.33/2.57 EUR, running, until t0+40m", got, p.Final, p.Until)
	}
}

func TestCatalogErrors(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	f.charger(t, "CP-1")
	bad := energyTariff("X", "-1")
	bad.CountryCode = "NLD"
	_, err := f.cat.PutTariff(ctx, bad)
	var ve *tariff.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 {
		t.Fatalf("PutTariff(invalid) = %v; want 2 problems (country_code, price)", err)
	}
	if _, err := f.cat.PutTariff(ctx, energyTariff(pricing.ReservedTariffID, "1")); !errors.As(err, &ve) {
		t.Fatalf("PutTariff(id assignments) = %v; want a validation error", err)
	}
	f.putTariff(t, energyTariff("T", "0.30"))
	if _, err := f.cat.Assign(ctx, pricing.Assignment{ChargerID: "NOPE", TariffID: "T"}); !errors.Is(err, charging.ErrNotFound) {
		t.Fatalf("assign to unknown charger = %v; want ErrNotFound", err)
	}
	if _, err := f.cat.Assign(ctx, pricing.Assignment{ChargerID: "CP-1", TariffID: "NOPE"}); !errors.Is(err, charging.ErrInvalidInput) {
		t.Fatalf("assign unknown tariff = %v; want ErrInvalidInput", err)
	}
	if _, err := f.cat.Assign(ctx, pricing.Assignment{Default: true, ChargerID: "CP-1", TariffID: "T"}); !errors.Is(err, charging.ErrInvalidInput) {
		t.Fatalf("assign default and charger = %v; want ErrInvalidInput", err)
	}
	f.assign(t, pricing.Assignment{ChargerID: "CP-1", ConnectorID: 2, TariffID: "T"})
	if err := f.cat.DeleteTariff(ctx, "T"); !errors.Is(err, charging.ErrConflict) {
		t.Fatalf("delete assigned tariff = %v; want ErrConflict", err)
	}
	f.assign(t, pricing.Assignment{ChargerID: "CP-1", ConnectorID: 2})
	if err := f.cat.DeleteTariff(ctx, "T"); err != nil {
		t.Fatalf("delete unassigned tariff: %v", err)
	}
	if _, err := f.cat.Tariff(ctx, "T"); !errors.Is(err, charging.ErrNotFound) {
		t.Fatalf("deleted tariff: %v; want ErrNotFound", err)
	}
}

func TestLocations(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	f.charger(t, "CP-1")
	l, err := f.cat.Location(ctx, "CP-1")
	if err != nil || l.TimeZone != "UTC" || !l.DefaultTimeZone {
		t.Fatalf("location without one = %+v, %v; want the default UTC", l, err)
	}
	for _, tz := range []string{"Mars/Olympus", "Local", "../etc/passwd"} {
		if _, err := f.cat.SetLocation(ctx, pricing.Location{ChargerID: "CP-1", TimeZone: tz}); !errors.Is(err, charging.ErrInvalidInput) {
			t.Errorf("time zone %q: %v; want ErrInvalidInput", tz, err)
		}
	}
	if _, err := f.cat.SetLocation(ctx, pricing.Location{ChargerID: "NOPE", TimeZone: "UTC"}); !errors.Is(err, charging.ErrNotFound) {
		t.Fatalf("location of unknown charger: %v; want ErrNotFound", err)
	}
	if _, err := f.cat.SetLocation(ctx, pricing.Location{ChargerID: "CP-1", TimeZone: "Europe/Amsterdam", City: "Amsterdam"}); err != nil {
		t.Fatal(err)
	}
	z, err := f.cat.Zone(ctx, "CP-1")
	if err != nil || z.String() != "Europe/Amsterdam" {
		t.Fatalf("zone = %v, %v; want Europe/Amsterdam", z, err)
	}
	if z, _ := f.cat.Zone(ctx, "CP-OTHER"); z != time.UTC {
		t.Fatalf("zone of a charger without a location = %v; want UTC", z)
	}
}

// TestTariffChangesAreEvents: putting and deleting a tariff publish a
// TariffChanged event naming it on the store's event log.
func TestTariffChangesAreEvents(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "pricing.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cat := pricing.NewCatalog(charging.DocStore(st), st, &clock{t: t0}, nil)
	cat.AnnounceTo(st)
	if _, err := cat.PutTariff(ctx, energyTariff("T1", "0.30")); err != nil {
		t.Fatal(err)
	}
	if err := cat.DeleteTariff(ctx, "T1"); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	var got []charging.Event
	err = st.Consume(cctx, "test", func(_ context.Context, e charging.Event) error {
		got = append(got, e)
		if len(got) == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume: %v", err)
	}
	for _, e := range got {
		if e.Kind != charging.TariffChanged || e.TariffID != "T1" || !e.At.Equal(t0) {
			t.Fatalf("event %+v; want TariffChanged for T1 at %s", e, t0)
		}
	}
}

// A session that ended while no pricer ran (the process was down) is
// priced when the pricer starts: it reads the event log from its last
// position, not only what happens after it starts.
func TestFinalPriceOfASessionThatEndedWhileThePricerWasDown(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	f.charger(t, "CP-1")
	f.putTariff(t, energyTariff("T", "0.30"))
	f.assign(t, pricing.Assignment{Default: true, TariffID: "T"})
	s := f.session(t, "CP-1", 1, 10, true)
	if _, err := f.docs.GetDoc(ctx, pricing.DocSessionPrice, s.ID); !errors.Is(err, charging.ErrNotFound) {
		t.Fatalf("priced before the pricer ran: %v", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.pricer.Run(rctx, f.store) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := f.docs.GetDoc(ctx, pricing.DocSessionPrice, s.ID); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the session that ended before the pricer started was not priced")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
