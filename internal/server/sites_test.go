package server_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/loadmgmt"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// siteWatch follows a site's allocations as the load manager announces
// them, and checks on every change that the limits in force never add up to
// more than the site's limit.
type siteWatch struct {
	t      *testing.T
	limitW float64

	mu     sync.Mutex
	last   loadmgmt.SiteStatus
	bad    []string
	notify chan struct{}
}

func newSiteWatch(t *testing.T, limitKW float64) *siteWatch {
	return &siteWatch{t: t, limitW: limitKW * 1000, notify: make(chan struct{}, 1)}
}

func (w *siteWatch) option(s *cbtest.Setup) {
	s.Options.LoadMgmt = func(c *loadmgmt.Config) {
		c.RateInterval = 10 * time.Millisecond
		c.RetryInterval = time.Hour
		// Draws are not trusted within the test's lifetime: the allocation
		// depends on starts, stops and presence only (draw-driven
		// redistribution is the allocator's unit tests' matter).
		c.Settle = time.Hour
		c.OnChange = w.observe
	}
}

func (w *siteWatch) observe(st loadmgmt.SiteStatus) {
	inForce, allocated := 0.0, 0.0
	for _, c := range st.Connectors {
		if c.LimitKW != nil && c.State != "uncontrolled" {
			inForce += *c.LimitKW * 1000
		}
		allocated += c.AllocatedKW * 1000
	}
	w.mu.Lock()
	if inForce > w.limitW+1e-6 {
		w.bad = append(w.bad, fmt.Sprintf("limits in force add up to %.0f W > %.0f W: %+v", inForce, w.limitW, st.Connectors))
	}
	if allocated+st.ReservedKW*1000 > w.limitW+1e-6 && st.AllocatedKW > 0 {
		w.bad = append(w.bad, fmt.Sprintf("allocated %.0f W + reserved %.0f W > %.0f W", allocated, st.ReservedKW*1000, w.limitW))
	}
	w.last = st
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// await waits (event-driven, no polling sleep) until ok holds for the latest
// status, and fails after a generous deadline.
func (w *siteWatch) await(what string, ok func(loadmgmt.SiteStatus) bool) loadmgmt.SiteStatus {
	w.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		w.mu.Lock()
		st := w.last
		w.mu.Unlock()
		if ok(st) {
			return st
		}
		select {
		case <-w.notify:
		case <-deadline:
			w.t.Fatalf("timed out waiting for %s; last status: %+v", what, st.Connectors)
		}
	}
}

func (w *siteWatch) check() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.bad {
		w.t.Error(b)
	}
}

// limitsInForce returns the charging connectors' limits in force (kW) by
// charger, when every one of n has one.
func limitsInForce(st loadmgmt.SiteStatus, n int) (map[string]float64, bool) {
	out := map[string]float64{}
	for _, c := range st.Connectors {
		if c.State == "charging" && c.LimitKW != nil && c.TransactionID != "" {
			out[c.ChargerID] = *c.LimitKW
		}
	}
	return out, len(out) == n
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.002 }

// siteSim runs a simulated 11 kW single-connector charger.
func siteSim(t *testing.T, s *cbtest.Server, id string, reject bool) (*sim.Charger, context.CancelFunc) {
	t.Helper()
	ch, err := sim.NewCharger(sim.Config{
		URL: s.WSURL(), Connectors: 1, MaxPowerKW: 11, NoAutoStart: true, TimeScale: 60,
		MeterInterval: 100 * time.Millisecond, Energy: sim.KWhRange{Min: 500, Max: 500},
		ReconnectMin: time.Hour, ReconnectMax: time.Hour, RejectChargingProfiles: reject,
	}, id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ch.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "charger "+id+" to boot", func() bool {
		var c api.Charger
		return s.GetJSON("/api/v1/chargers/"+id, &c) == http.StatusOK && c.Connected && c.BootStatus == charging.BootAccepted
	})
	return ch, cancel
}

// threeOnASite starts a server with a 22 kW site of three 11 kW simulated
// chargers (the one named reject answers Rejected to charging profiles)
// and starts a session on each.
func threeOnASite(t *testing.T, reject string) (*cbtest.Server, *siteWatch, map[string]*sim.Charger, map[string]context.CancelFunc) {
	w := newSiteWatch(t, 22)
	s := cbtest.Start(t, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }), w.option)
	ids := []string{"CP-1", "CP-2", "CP-3"}
	for _, id := range ids {
		registerCharger(t, s, id)
	}
	st, body := call(t, s, http.MethodPut, "/api/v1/sites/HQ",
		`{"name":"Head office","max_power_kw":22,"chargers":["CP-1","CP-2","CP-3"],"charger_max_kw":{"CP-1":11,"CP-2":11,"CP-3":11}}`)
	if st != http.StatusOK {
		t.Fatalf("PUT site = %d %s; want 200", st, body)
	}
	sims, stops := map[string]*sim.Charger{}, map[string]context.CancelFunc{}
	for _, id := range ids {
		sims[id], stops[id] = siteSim(t, s, id, id == reject)
	}
	for i, id := range ids {
		if err := sims[id].StartSession(1, fmt.Sprintf("TAG-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return s, w, sims, stops
}

func TestSiteSharesPowerAmongSimulatedChargers(t *testing.T) {
	s, w, sims, _ := threeOnASite(t, "")
	w.await("three connectors at 22/3 kW each", func(st loadmgmt.SiteStatus) bool {
		l, ok := limitsInForce(st, 3)
		return ok && near(l["CP-1"], 7.333) && near(l["CP-2"], 7.333) && near(l["CP-3"], 7.333)
	})
	// The operator API shows the allocation and the measured power.
	var got loadmgmt.SiteStatus
	if st := s.GetJSON("/api/v1/sites/HQ", &got); st != http.StatusOK || got.LimitKW != 22 || len(got.Connectors) != 3 {
		t.Fatalf("GET site = %d %+v; want 200 with limit 22 and three connectors", st, got)
	}
	w.await("the three chargers to draw their share", func(st loadmgmt.SiteStatus) bool {
		n := 0
		for _, c := range st.Connectors {
			if c.DrawKW != nil && *c.DrawKW > 7 {
				n++
			}
		}
		return n == 3
	})
	// The simulated meters add ±0.5 % noise, but never above the limit.
	if err := s.GetJSON("/api/v1/sites/HQ", &got); err != http.StatusOK || got.MeasuredKW > 22 || got.MeasuredKW < 21 {
		t.Errorf("measured site power %v kW; want about 22 and not above", got.MeasuredKW)
	}

	if err := sims["CP-2"].StopSession(1, "Local"); err != nil {
		t.Fatal(err)
	}
	w.await("the other two to go to 11 kW", func(st loadmgmt.SiteStatus) bool {
		l, ok := limitsInForce(st, 2)
		return ok && near(l["CP-1"], 11) && near(l["CP-3"], 11)
	})
	w.await("the two to draw 11 kW", func(st loadmgmt.SiteStatus) bool {
		n := 0
		for _, c := range st.Connectors {
			if c.DrawKW != nil && *c.DrawKW > 10.5 {
				n++
			}
		}
		return n == 2
	})
	// Dashboard: the sites list, the site page with its chart, and the
	// charger page with the profile in force.
	for _, pg := range []struct{ path, want string }{
		{"/sites", `href="/sites/HQ"`},
		{"/sites/HQ", `id="chart-site"`},
		{"/sites/HQ", `<a href="/chargers/CP-1">CP-1</a>/1</td><td>charging</td><td>11.0</td>`},
		{"/chargers/CP-1", `TxProfile (Relative)</td><td>11000 W from 0s`},
		{"/chargers/CP-1", `Load managed as part of site <a href="/sites/HQ">HQ</a>`},
	} {
		st, body := call(t, s, http.MethodGet, pg.path, "")
		if st != http.StatusOK || !strings.Contains(string(body), pg.want) {
			t.Errorf("GET %s = %d; want 200 containing %q:\n%s", pg.path, st, pg.want, body)
		}
	}
	// Metrics.
	m := scrape(t, s)
	if m[`chargebridge_site_limit_kw{site="HQ"}`] != 22 || m[`chargebridge_site_paused_connectors{site="HQ"}`] != 0 ||
		m[`chargebridge_site_power_kw{site="HQ"}`] < 20 {
		t.Errorf("site metrics: limit %v, paused %v, power %v; want 22, 0, about 22",
			m[`chargebridge_site_limit_kw{site="HQ"}`], m[`chargebridge_site_paused_connectors{site="HQ"}`], m[`chargebridge_site_power_kw{site="HQ"}`])
	}
	w.check()
}

func TestSiteCountsARejectingChargerAtItsMaximum(t *testing.T) {
	_, w, _, _ := threeOnASite(t, "CP-2")
	st := w.await("the rejecting charger counted at 11 kW, the others sharing 11 kW", func(st loadmgmt.SiteStatus) bool {
		l, ok := limitsInForce(st, 2)
		return ok && near(l["CP-1"], 5.5) && near(l["CP-3"], 5.5) && st.ReservedKW == 11
	})
	for _, c := range st.Connectors {
		if c.ChargerID == "CP-2" && (c.State != "uncontrolled" || !strings.Contains(c.Reason, "Rejected")) {
			t.Errorf("CP-2 is %s (%q); want uncontrolled because it rejected the profile", c.State, c.Reason)
		}
	}
	w.check()
}

func TestSiteCountsAnOfflineChargerAtItsMaximum(t *testing.T) {
	_, w, _, stops := threeOnASite(t, "")
	w.await("three connectors at 22/3 kW each", func(st loadmgmt.SiteStatus) bool {
		l, ok := limitsInForce(st, 3)
		return ok && near(l["CP-1"], 7.333) && near(l["CP-2"], 7.333) && near(l["CP-3"], 7.333)
	})
	stops["CP-3"]() // the charger drops off the network while charging
	st := w.await("the offline charger counted at 11 kW, the others lowered to 5.5 kW", func(st loadmgmt.SiteStatus) bool {
		l, ok := limitsInForce(st, 2)
		return ok && near(l["CP-1"], 5.5) && near(l["CP-2"], 5.5) && st.ReservedKW == 11
	})
	for _, c := range st.Connectors {
		if c.ChargerID == "CP-3" && (c.State != "uncontrolled" || c.Reason != "offline") {
			t.Errorf("CP-3 is %s (%q); want uncontrolled, offline", c.State, c.Reason)
		}
	}
	w.check()
}

func TestSitesAPI(t *testing.T) {
	s := cbtest.Start(t)
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		contains                 string
	}{
		{"create", "PUT", "/api/v1/sites/S1", `{"name":"One","max_power_kw":22,"chargers":["CP-1","CP-2"]}`, 200, `"max_power_kw": 22`},
		{"second-site-may-not-take-a-charger", "PUT", "/api/v1/sites/S2", `{"max_power_kw":50,"chargers":["CP-2"]}`, 409, "CP-2 is in site S1"},
		{"zero-limit", "PUT", "/api/v1/sites/S2", `{"max_power_kw":0,"chargers":[]}`, 400, "max_power_kw must be a positive"},
		{"unknown-field", "PUT", "/api/v1/sites/S2", `{"max_kw":5}`, 400, "unknown field"},
		{"max-for-a-stranger", "PUT", "/api/v1/sites/S2", `{"max_power_kw":5,"chargers":["A"],"charger_max_kw":{"B":7}}`, 400, "not one of the site's chargers"},
		{"id-mismatch", "PUT", "/api/v1/sites/S2", `{"id":"S3","max_power_kw":5}`, 400, "differs"},
		{"bad-id", "PUT", "/api/v1/sites/bad%20id", `{"max_power_kw":5}`, 400, "site id"},
		{"get", "GET", "/api/v1/sites/S1", ``, 200, `"chargers": [`},
		{"list", "GET", "/api/v1/sites", ``, 200, `"id": "S1"`},
		{"missing", "GET", "/api/v1/sites/NOPE", ``, 404, "not found"},
		{"move-charger-after-update", "PUT", "/api/v1/sites/S1", `{"max_power_kw":22,"max_current_a":25,"chargers":["CP-1"]}`, 200, `"max_current_a": 25`},
		{"now-free", "PUT", "/api/v1/sites/S2", `{"max_power_kw":50,"chargers":["CP-2"]}`, 200, `"CP-2"`},
		{"limit-capped-per-phase", "GET", "/api/v1/sites/S1", ``, 200, `"limit_kw": 17.25`},
		{"delete", "DELETE", "/api/v1/sites/S1", ``, 204, ``},
		{"delete-again", "DELETE", "/api/v1/sites/S1", ``, 404, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body := call(t, s, tc.method, tc.path, tc.body)
			if st != tc.want || !strings.Contains(string(body), tc.contains) {
				t.Errorf("%s %s = %d %s; want %d containing %q", tc.method, tc.path, st, body, tc.want, tc.contains)
			}
		})
	}
}

// TestSiteLimitsAnEVSEOfTwoConnectors: load management limits a 2.0.1
// station per EVSE (SetChargingProfile names an evseId). On a station whose
// EVSE 1 has two connectors, a session on connector 2 is the EVSE's: the
// site's limit reaches the EVSE, which applies it to the connector in use.
func TestSiteLimitsAnEVSEOfTwoConnectors(t *testing.T) {
	s := cbtest.Start(t, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	registerCharger(t, s, "DC-1")
	if st, body := call(t, s, http.MethodPut, "/api/v1/sites/DEPOT", `{"name":"Depot","max_power_kw":7,"chargers":["DC-1"]}`); st != http.StatusOK {
		t.Fatalf("PUT site = %d %s; want 200", st, body)
	}
	ch, err := sim.NewCharger(sim.Config{
		URL: s.WSURL(), Protocol: "2.0.1", OneEVSE: true, Connectors: 2, MaxPowerKW: 22, NoAutoStart: true, TimeScale: 60,
		MeterInterval: 100 * time.Millisecond, Energy: sim.KWhRange{Min: 500, Max: 500},
		ReconnectMin: time.Hour, ReconnectMax: time.Hour,
	}, "DC-1")
	if err != nil {
		t.Fatal(err)
	}
	cbtest.Run(t, ch)
	waitFor(t, "DC-1 to boot", func() bool {
		var c api.Charger
		return s.GetJSON("/api/v1/chargers/DC-1", &c) == http.StatusOK && c.Connected && c.BootStatus == charging.BootAccepted
	})
	if err := ch.StartSession(2, "TAG-DC"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "EVSE 1 connector 2 to be limited to the site's 7 kW", func() bool {
		return math.Abs(ch.LimitW(2)-7000) < 1
	})
	var got loadmgmt.SiteStatus
	if st := s.GetJSON("/api/v1/sites/DEPOT", &got); st != http.StatusOK || len(got.Connectors) != 1 || got.Connectors[0].ConnectorID != 1 {
		t.Fatalf("GET site = %d %+v; want one EVSE, 1", st, got.Connectors)
	}
	if ch.LimitW(1) != 22000 {
		t.Errorf("connector 1 of EVSE 1, not in use: limit %v W; want the station's 22000", ch.LimitW(1))
	}
	// The dashboard's charger page lists the EVSE's connectors, and the
	// session's connector within the EVSE.
	waitFor(t, "the charger page to show EVSE 1's two connectors", func() bool {
		st, body := call(t, s, http.MethodGet, "/chargers/DC-1", "")
		page := string(body)
		return st == http.StatusOK && strings.Contains(page, `data-evse-connector="1/1"`) &&
			strings.Contains(page, `data-evse-connector="1/2"`) && strings.Contains(page, "EVSE 1 / connector 2") &&
			strings.Contains(page, `#1 <span class="muted">connector 2</span>`) && strings.Contains(page, `name="evse_connector_id"`)
	})
}
