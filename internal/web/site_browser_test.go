package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/loadmgmt"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// TestBrowserSitePage opens a site's page while two simulated chargers
// share it: the chart draws the site's power against its limit and a
// line per connector.
func TestBrowserSitePage(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	ctx := browser(t, 2*time.Minute)
	srv := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	lm := srv.Server.Load()
	if _, err := lm.PutSite(context.Background(), loadmgmt.Site{ID: "YARD", Name: "Yard", MaxPowerKW: 11,
		Chargers: []string{"YRD-00001", "YRD-00002"}, ChargerMaxKW: map[string]float64{"YRD-00001": 11, "YRD-00002": 11}}); err != nil {
		t.Fatal(err)
	}
	fleet := runFleet(t, srv, sim.Config{IDPrefix: "YRD-", Connectors: 1, NoAutoStart: true, MaxPowerKW: 11,
		MeterInterval: 300 * time.Millisecond, TimeScale: 60, Energy: sim.KWhRange{Min: 500, Max: 500}, Seed: 3}, 2)
	for _, cp := range fleet.Chargers() {
		deadline := time.Now().Add(20 * time.Second)
		for {
			var c struct {
				Connected  bool   `json:"connected"`
				BootStatus string `json:"boot_status"`
			}
			if srv.GetJSON("/api/v1/chargers/"+cp.ID(), &c) == http.StatusOK && c.Connected && c.BootStatus == "Accepted" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not boot", cp.ID())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := cp.StartSession(1, "CARD-"+cp.ID()); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"/sites/YARD"), chromedp.WaitVisible(chromedp.ID("chart-site"))); err != nil {
		t.Fatalf("open the site page: %v", err)
	}
	// Two connectors (allocated and draw each) plus the limit and the
	// site's power, and a few points.
	waitJS(ctx, t, "the chart with both connectors",
		`document.querySelectorAll('#chart-site .u-legend .u-series').length >= 7 && +document.getElementById('chart-site').dataset.points >= 3`, 30*time.Second)
	legend := evalString(ctx, t, `document.querySelector('#chart-site .u-legend').textContent`)
	for _, want := range []string{"limit", "site power", "YRD-00001/1 allocated", "YRD-00002/1 draw"} {
		if !strings.Contains(legend, want) {
			t.Errorf("chart legend %q lacks %q", legend, want)
		}
	}
	if got := evalString(ctx, t, `document.getElementById('site-limit').textContent`); got != "11.0" {
		t.Errorf("limit shown %q; want 11.0", got)
	}
	screenshot(ctx, t, "site.png")
}
