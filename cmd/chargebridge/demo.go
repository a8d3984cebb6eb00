package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/chargebridge/chargebridge/internal/beckn/signing"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/loadmgmt"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/sim"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// demoCounters follow the sessions the server sees, for the progress line.
type demoCounters struct {
	started, completed atomic.Int64
	mu                 sync.Mutex
	kwh                float64 // energy of finished sessions
	open               map[string]bool
	ended              map[string]bool
}

func (d *demoCounters) observe(e charging.Event) {
	if e.Kind != charging.SessionChanged || e.Session == nil {
		return
	}
	s := e.Session
	d.mu.Lock()
	defer d.mu.Unlock()
	_, known := d.open[s.ID]
	switch {
	case d.ended[s.ID]:
		// A repeated final event (a retried StopTransaction) counts once.
	case s.Status.Final():
		if known {
			delete(d.open, s.ID)
		} else {
			d.started.Add(1)
		}
		d.ended[s.ID] = true
		d.completed.Add(1)
		d.kwh += s.KWh()
	default:
		if !known {
			d.started.Add(1)
		}
		d.open[s.ID] = true
	}
}

// billed is the energy of the sessions the server has closed.
func (d *demoCounters) billed() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.kwh
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("demo", "[flags]", "Runs the whole system with a simulated fleet on a temporary database (unless --db is given) and prints where to look. "+
		"It registers a demo tariff (0.35 EUR/kWh, parking 0.05 EUR/min after 2 h, VAT 21 %) as the default, so sessions are priced.", stdout)
	cfg := f.serverConfig()
	chargers := f.Int("chargers", 10, "number of simulated chargers")
	connectors := f.Int("connectors", 2, "connectors per simulated charger")
	every201 := f.Int("ocpp201-every", 3, "every Nth simulated charger speaks OCPP 2.0.1, the others 1.6 (0: all 1.6)")
	faults := f.Bool("faults", false, "let the simulated chargers misbehave now and then (dropped connections, reboots, zone-less timestamps, …)")
	// The demo's database is temporary unless --db is given.
	cfg.DB = ""
	f.Lookup("db").DefValue = "a temporary sqlite file"
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("demo: unexpected argument %q (chargebridge demo -h lists the flags)", pos[0])
	}
	if cfg.DB == "" {
		dir, err := os.MkdirTemp("", "chargebridge-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.DB = "sqlite:" + filepath.Join(dir, "demo.db")
	}
	if *chargers < 1 || *chargers > 10000 {
		return fmt.Errorf("--chargers %d: use 1 to 10000 (for more, run `chargebridge bench`)", *chargers)
	}
	// The demo turns the Beckn BPP on with a key of its own, so /beckn/
	// answers (BAPs are unknown to it: their requests are refused as
	// unsigned by a known key, which is the right answer).
	becknNote := "off (set --beckn-key-file)"
	if cfg.Beckn.KeyFile == "" {
		kdir, err := os.MkdirTemp("", "chargebridge-demo-keys-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(kdir)
		kp, err := signing.GenerateKeyFile(filepath.Join(kdir, "bpp.key"), "demo.bpp.chargebridge.local", "")
		if err != nil {
			return err
		}
		subs := filepath.Join(kdir, "subscribers.json")
		if err := os.WriteFile(subs, []byte("[]\n"), 0o600); err != nil {
			return err
		}
		cfg.Beckn.KeyFile, cfg.Beckn.Subscribers = filepath.Join(kdir, "bpp.key"), subs
		becknNote = "on, signing with a demo key " + kp.PublicKeyBase64()[:12] + "…; add BAP keys with --beckn-subscribers"
	} else {
		becknNote = "on"
	}
	cfg.AutoRegister = true
	cfg.AcceptUnknownTags = true
	if cfg.LogLevel == "info" {
		cfg.LogLevel = "warn" // the progress line is the demo's output
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	srv, err := newServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	tariffNote, err := demoTariff(ctx, srv, cfg)
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	siteNote, err := demoSite(ctx, srv, *chargers, *connectors)
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	counters := &demoCounters{open: map[string]bool{}, ended: map[string]bool{}}
	srv.Service().Subscribe(counters.observe)
	addr, err := srv.Start()
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	base := "http://" + addr.String()
	login := "no login: open on this machine only"
	if cfg.APIToken != "" {
		login = "log in with your --api-token"
	}
	fmt.Fprintf(stdout, `chargebridge demo: %d simulated chargers with %d connectors each, database %s

  dashboard        %s/   (%s)
  OCPP (chargers)  ws://%s/ocpp/{chargePointId}
  OCPI 2.2.1       %s/ocpi/versions   (register an eMSP: chargebridge ocpi parties add --country NL --party ABC --db …)
  Beckn BPP        POST %s/beckn/{action}   (%s)
  operator API     %s/api/v1/sessions   (%s/api/v1/chargers, OpenAPI at %s/api/v1/openapi.json)
  metrics          %s/metrics
  tariff           %s
  site             %s

%s
Sessions are sped up: one second of demo charges like one minute. Ctrl-C stops.
`, *chargers, *connectors, server.RedactDB(cfg.DB), base, login, addr, base, base, becknNote, base, base, base, base, tariffNote, siteNote, mixNote(*chargers, *every201))

	simCfg := sim.Config{
		URL:           "ws://" + addr.String() + "/ocpp",
		IDPrefix:      "DEMO-",
		Connectors:    *connectors,
		MaxPowerKW:    50,
		MeterInterval: 2 * time.Second,
		SessionLength: sim.DurationRange{Min: 15 * time.Second, Max: 60 * time.Second},
		IdleTime:      sim.DurationRange{Min: time.Second, Max: 10 * time.Second},
		FinishingTime: sim.DurationRange{Min: time.Second, Max: 3 * time.Second},
		TimeScale:     60,
		IDTags:        demoTags(4 * *chargers * *connectors),
		Logger:        log,
		Every201:      max(*every201, 0),
	}
	if *faults {
		simCfg.Faults = sim.Faults{DropConnection: 0.05, GoOffline: 0.03, OfflineTime: sim.DurationRange{Min: 5 * time.Second, Max: 20 * time.Second},
			RetryStart: 0.05, NaiveTimestamps: 0.02, MalformedFrame: 0.01, RebootMidTransaction: 0.02}
	}
	fleet, err := sim.NewFleet(simCfg, *chargers)
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	fctx, stopFleet := context.WithCancel(ctx)
	fleetDone := make(chan error, 1)
	go func() { fleetDone <- fleet.Run(fctx) }()

	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	start := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-srv.Failed(): // Shutdown below returns the failure
			break loop
		case <-tick.C:
			fmt.Fprintf(stdout, "[%4ds] chargers online %d/%d · sessions started %d, completed %d · %.1f kWh delivered (%.1f kWh in completed sessions)\n",
				int(time.Since(start).Seconds()), srv.OCPP().Stats().Connected.Load(), *chargers,
				counters.started.Load(), counters.completed.Load(), fleet.Stats().EnergyKWh, counters.billed())
		}
	}
	fmt.Fprintln(stdout, "stopping: chargers first, then the server")
	stopFleet()
	ferr := <-fleetDone
	billed := demoBilled(srv)
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done: %d sessions started, %d completed, %.1f kWh delivered%s\n",
		counters.started.Load(), counters.completed.Load(), fleet.Stats().EnergyKWh, billed)
	return ferr
}

// demoTags makes enough driver cards that no two drivers share one: a tag in
// use is refused with ConcurrentTx, as it should be.
func demoTags(n int) []string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("DEMO%06X", 0xA00000+i)
	}
	return tags
}

// demoTariffJSON is the demo's default tariff: 0.35 EUR/kWh, and parking
// (connected, not charging) at 0.05 EUR/min once the session has lasted
// 2 h, VAT 21 %. OCPI prices PARKING_TIME per hour: 0.05/min is 3.00/h.
const demoTariffJSON = `{
  "country_code": %q, "party_id": %q, "id": "DEMO", "currency": "EUR",
  "tariff_alt_text": [{"language": "en", "text": "0.35 EUR/kWh; parking 0.05 EUR/min after 2 hours; prices include 21%% VAT"}],
  "elements": [
    {"price_components": [{"type": "ENERGY", "price": 0.35, "vat": 21.0, "step_size": 1}]},
    {"price_components": [{"type": "PARKING_TIME", "price": 3.00, "vat": 21.0, "step_size": 60}],
     "restrictions": {"min_duration": 7200}}
  ]
}`

// demoTariff stores the demo tariff and makes it the default (unless the
// database already has a default), so every session shows a price.
func demoTariff(ctx context.Context, srv *server.Server, cfg *server.Config) (string, error) {
	cat := srv.Catalog()
	if cat == nil {
		return "none (the database keeps no tariffs)", nil
	}
	as, err := cat.Assignments(ctx)
	if err != nil {
		return "", fmt.Errorf("demo tariff: %w", err)
	}
	for _, a := range as {
		if a.Default {
			return "the database's default tariff " + a.TariffID, nil
		}
	}
	t, err := tariff.ParseTariff([]byte(fmt.Sprintf(demoTariffJSON, cfg.OCPICountry, cfg.OCPIParty)))
	if err != nil {
		return "", fmt.Errorf("demo tariff: %w", err)
	}
	if _, err := cat.PutTariff(ctx, t); err != nil {
		return "", fmt.Errorf("demo tariff: %w", err)
	}
	if _, err := cat.Assign(ctx, pricing.Assignment{Default: true, TariffID: t.ID}); err != nil {
		return "", fmt.Errorf("demo tariff: %w", err)
	}
	return "DEMO (default): 0.35 EUR/kWh + 0.05 EUR/min parking after 2 h, VAT 21 %", nil
}

// demoBilled is ", priced EUR 12.34 incl. VAT (N sessions)": what the
// sessions cost under their tariffs (the running ones as estimated at
// stop), as the dashboard, the API and the OCPI and Beckn views show it;
// "" when nothing was priced.
func demoBilled(srv *server.Server) string {
	p := srv.Pricer()
	if p == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := srv.Service().Store()
	ss, _, err := st.ListSessions(ctx, charging.SessionFilter{Limit: 500})
	if err != nil {
		return ""
	}
	var total decimal.Decimal
	currency, n := "", 0
	for _, s := range ss {
		samples, err := st.SessionSamples(ctx, s.ID)
		if err != nil {
			continue
		}
		pr, err := p.Price(ctx, s, samples)
		if err != nil || pr == nil {
			continue
		}
		total = total.Add(pr.TotalCost().InclVAT.Decimal)
		currency, n = pr.Currency, n+1
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", priced %s %s incl. VAT (%d sessions)", currency, total.StringFixed(2), n)
}

// demoSite puts the first (up to) three simulated chargers on one site
// whose grid limit is half of what they could draw together, so load
// management shows: sessions share the site's power.
func demoSite(ctx context.Context, srv *server.Server, chargers, connectors int) (string, error) {
	lm := srv.Load()
	if lm == nil {
		return "none (the database keeps no documents)", nil
	}
	n := min(chargers, 3)
	site := loadmgmt.Site{ID: "DEMO-SITE", Name: "Demo car park", ChargerMaxKW: map[string]float64{}}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("DEMO-%05d", i)
		site.Chargers = append(site.Chargers, id)
		site.ChargerMaxKW[id] = 50
	}
	site.MaxPowerKW = float64(n*connectors) * 50 / 2
	if _, err := lm.PutSite(ctx, site); err != nil {
		return "", fmt.Errorf("demo site: %w", err)
	}
	return fmt.Sprintf("DEMO-SITE: %s share %g kW, half of what their %d connectors could draw (chargebridge sites show DEMO-SITE)",
		strings.Join(site.Chargers, ", "), site.MaxPowerKW, n*connectors), nil
}

// mixNote says which demo chargers speak OCPP 2.0.1.
func mixNote(chargers, every int) string {
	if every <= 0 || every > chargers {
		return "All chargers speak OCPP 1.6.\n"
	}
	return fmt.Sprintf("Every %s charger (DEMO-%05d, …) speaks OCPP 2.0.1, the others 1.6.\n", ordinal(every), every)
}

func ordinal(n int) string {
	switch {
	case n == 1:
		return "1st"
	case n == 2:
		return "2nd"
	case n == 3:
		return "3rd"
	}
	return fmt.Sprintf("%dth", n)
}
