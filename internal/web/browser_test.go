package web_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chargebridge/chargebridge/internal/browsertest"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/sim"
)

const browserToken = "browser-test-token-0123456789"

// browser starts headless Chromium for the test (internal/browsertest).
func browser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	return browsertest.Start(t, timeout)
}

// runFleet runs simulated chargers against srv until the test ends.
func runFleet(t *testing.T, srv *cbtest.Server, cfg sim.Config, n int) *sim.Fleet {
	t.Helper()
	cfg.URL = "ws://" + srv.Addr + "/ocpp"
	f, err := sim.NewFleet(cfg, n)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := f.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("fleet: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return f
}

// waitJS polls a JavaScript boolean expression until it is true.
func waitJS(ctx context.Context, t *testing.T, what, expr string, timeout time.Duration) {
	t.Helper()
	browsertest.WaitJS(ctx, t, what, expr, timeout)
}

func evalString(ctx context.Context, t *testing.T, expr string) string {
	t.Helper()
	return browsertest.EvalString(ctx, t, expr)
}

func screenshot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("CHARGEBRIDGE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserDashboard is an operator's first session with the dashboard:
// log in, see a charger come online, see its session appear, watch the
// session's charts grow, and stop it remotely.
func TestBrowserDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	ctx := browser(t, 3*time.Minute)
	srv := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) {
		c.AcceptUnknownTags = true
		c.APIToken = browserToken
	}))
	base := srv.URL()

	// The dashboard asks for a login, refuses a wrong token and takes the
	// right one back to the page asked for.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/chargers"),
		chromedp.WaitVisible(chromedp.ID("token")),
	); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	loc := evalString(ctx, t, `location.href`)
	if !strings.Contains(loc, "/login?next=%2Fchargers") {
		t.Fatalf("got %s; want the login form with next=/chargers", loc)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("token"), "not-the-token-at-all"),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("login-error")),
		chromedp.SendKeys(chromedp.ID("token"), browserToken),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.CSS("table.chargers")),
	); err != nil {
		t.Fatalf("log in: %v", err)
	}
	loc = evalString(ctx, t, `location.href`)
	if !strings.HasSuffix(loc, "/chargers") {
		t.Fatalf("after login got %s; want /chargers", loc)
	}
	waitJS(ctx, t, "event stream connected", `document.getElementById('live').classList.contains('on')`, 10*time.Second)

	// A charger comes online: the list shows it without a reload.
	evalString(ctx, t, `String(window.__noReload = 1)`)
	fleet := runFleet(t, srv, sim.Config{
		IDPrefix:      "BRW-",
		Connectors:    2,
		NoAutoStart:   true,
		MaxPowerKW:    50,
		MeterInterval: 500 * time.Millisecond,
		TimeScale:     10,
		SessionLength: sim.DurationRange{Min: 10 * time.Minute, Max: 10 * time.Minute},
		Energy:        sim.KWhRange{Min: 80, Max: 80},
		Seed:          7,
	}, 1)
	cp := fleet.Chargers()[0]
	row := `tr[data-charger="` + cp.ID() + `"]`
	waitJS(ctx, t, "charger online in the list", `!!document.querySelector('`+row+`[data-online="true"] .c-available')`, 20*time.Second)
	if s := evalString(ctx, t, `String(window.__noReload)`); s != "1" {
		t.Fatalf("the chargers page reloaded (marker %q); want a live update", s)
	}

	// The search filters the list as one types.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("q"), "no-such-charger")); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, "search hides the charger", `!document.querySelector('`+row+`')`, 5*time.Second)
	evalString(ctx, t, `(document.getElementById('q').value = '', document.getElementById('q').dispatchEvent(new Event('input', {bubbles: true})), 'ok')`)
	waitJS(ctx, t, "clearing the search shows it again", `!!document.querySelector('`+row+`')`, 5*time.Second)

	// A driver plugs in: the sessions list shows the session live.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/sessions"), chromedp.WaitVisible(chromedp.CSS("table.sessions"))); err != nil {
		t.Fatal(err)
	}
	evalString(ctx, t, `String(window.__noReload = 1)`)
	waitJS(ctx, t, "event stream connected", `document.getElementById('live').classList.contains('on')`, 10*time.Second)
	if err := cp.StartSession(1, "BROWSER01"); err != nil {
		t.Fatal(err)
	}
	waitJS(ctx, t, "active session in the list", `!!document.querySelector('tr[data-status="active"]')`, 20*time.Second)
	if s := evalString(ctx, t, `String(window.__noReload)`); s != "1" {
		t.Fatalf("the sessions page reloaded (marker %q); want a live update", s)
	}
	sessionID := evalString(ctx, t, `document.querySelector('tr[data-status="active"]').dataset.session`)

	// The session page's charts grow as telemetry comes in.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`tr[data-session="`+sessionID+`"] a`)),
		chromedp.WaitVisible(chromedp.ID("chart-energy")),
	); err != nil {
		t.Fatalf("open the session: %v", err)
	}
	points := func(chart string) int {
		n, _ := strconv.Atoi(evalString(ctx, t, `document.getElementById('`+chart+`').dataset.points`))
		return n
	}
	waitJS(ctx, t, "energy chart drawn", `+document.getElementById('chart-energy').dataset.points >= 2 && !!document.querySelector('#chart-energy canvas')`, 20*time.Second)
	first := points("chart-energy")
	waitJS(ctx, t, "energy chart grows", fmt.Sprintf(`+document.getElementById('chart-energy').dataset.points > %d`, first), 20*time.Second)
	if points("chart-power") < 2 || points("chart-soc") < 2 {
		t.Errorf("got power %d and SoC %d points; want both charts drawn", points("chart-power"), points("chart-soc"))
	}
	waitJS(ctx, t, "OCPI and Beckn views shown", `document.getElementById('view-ocpi').textContent.includes('"status": "ACTIVE"') && document.getElementById('view-beckn').textContent.includes('"sessionStatus": "ACTIVE"')`, 10*time.Second)
	screenshot(ctx, t, "session-active.png")

	// Remote stop goes through the operator API; the session completes.
	t.Run("remote-stop", func(t *testing.T) {
		browsertest.Click(ctx, t, "#remote-stop")
		waitJS(ctx, t, "command answered", `(document.getElementById('command-result').dataset.httpStatus || '0') !== '0'`, 15*time.Second)
		status := evalString(ctx, t, `document.getElementById('command-result').dataset.httpStatus`)
		text := evalString(ctx, t, `document.getElementById('command-result').textContent`)
		if !strings.HasPrefix(status, "2") || evalString(ctx, t, `document.getElementById('command-result').dataset.answer`) != "Accepted" {
			t.Fatalf("remote stop: got HTTP %s %q; want 2xx and Accepted", status, text)
		}
		waitJS(ctx, t, "session completed", `document.getElementById('session-status').textContent.trim() === 'completed'`, 20*time.Second)
		screenshot(ctx, t, "session-stopped.png")
	})
}

// TestBrowserScreenshots writes screenshots of every page with a charging
// fleet to $CHARGEBRIDGE_SCREENSHOTS, for a person to look at.
func TestBrowserScreenshots(t *testing.T) {
	dir := os.Getenv("CHARGEBRIDGE_SCREENSHOTS")
	if dir == "" {
		t.Skip("set CHARGEBRIDGE_SCREENSHOTS=DIR to write screenshots of the dashboard")
	}
	ctx := browser(t, 3*time.Minute)
	srv := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	runFleet(t, srv, sim.Config{
		IDPrefix: "DEMO-", Connectors: 2, MaxPowerKW: 50, MeterInterval: time.Second, TimeScale: 60,
		SessionLength: sim.DurationRange{Min: 15 * time.Second, Max: 40 * time.Second},
		IdleTime:      sim.DurationRange{Min: time.Second, Max: 5 * time.Second},
		FinishingTime: sim.DurationRange{Min: time.Second, Max: 2 * time.Second},
		Faults:        sim.Faults{RebootMidTransaction: 0.2},
		Seed:          3,
	}, 8)
	time.Sleep(25 * time.Second)
	shots := []struct{ path, wait, name string }{
		{"/", "#chargers-online", "overview.png"},
		{"/chargers", "table.chargers", "chargers.png"},
		{"/sessions", "table.sessions", "sessions.png"},
		{"/chargers/DEMO-00001", "#charger", "charger.png"},
	}
	for _, s := range shots {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL()+s.path), chromedp.WaitVisible(chromedp.CSS(s.wait)), chromedp.Sleep(1500*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		screenshot(ctx, t, s.name)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"/sessions?status=active"), chromedp.WaitVisible(chromedp.CSS("table.sessions"))); err != nil {
		t.Fatal(err)
	}
	id := evalString(ctx, t, `(document.querySelector('tr[data-status="active"]') || document.querySelector('tr[data-session]')).dataset.session`)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL()+"/sessions/"+id), chromedp.WaitVisible(chromedp.CSS("#chart-energy canvas")), chromedp.Sleep(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	screenshot(ctx, t, "session.png")
}
