package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chargebridge/chargebridge/internal/browsertest"
	cb "github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// TestBrowserConsole drives the console pages (tags, tariffs, map, alerts,
// deleting a charger) in one headless Chromium against one server with a
// raw charger CP-WEB: each page loads, shows the server's data, and one of
// its actions works.
func TestBrowserConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	ctx := browser(t, 2*time.Minute)
	srv, cp, _, sessionID := charging(t)
	base := srv.URL()
	st := srv.Service().Store()
	if code := srv.Do(http.MethodPut, "/api/v1/chargers/CP-WEB/location", map[string]any{"name": "Depot", "coordinates": map[string]any{"latitude": "52.3702", "longitude": "4.8952"}}, nil); code != http.StatusOK {
		t.Fatalf("put location: %d", code)
	}
	for _, tag := range []map[string]any{{"id_tag": "KEEP-1"}, {"id_tag": "GONE-1", "parent_id_tag": "FLEET"}} {
		if code := srv.PostJSON("/api/v1/tags", tag, nil); code != http.StatusCreated {
			t.Fatalf("add tag: %d", code)
		}
	}
	open := func(t *testing.T, path, wait string) {
		t.Helper()
		// A reload an action started may still be under way and abort
		// this navigation (net::ERR_ABORTED): navigate again.
		var err error
		for i := 0; i < 5; i++ {
			if err = chromedp.Do(ctx, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(wait))); err == nil || !strings.Contains(err.Error(), "ERR_ABORTED") {
				break
			}
		}
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
	}
	click := func(t *testing.T, sel string) {
		t.Helper()
		// Dialogs would block the page (a reload brings back the real
		// confirm): confirm everything.
		evalString(ctx, t, `(window.confirm = function () { return true; }, 'ok')`)
		browsertest.Click(ctx, t, sel)
	}

	t.Run("tags", func(t *testing.T) {
		open(t, "/tags", "table.tags")
		waitJS(ctx, t, "tags listed", `!!document.querySelector('tr[data-tag="KEEP-1"][data-status="Accepted"]') && !!document.querySelector('tr[data-tag="GONE-1"]')`, 5*time.Second)
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#new-tag"), "WEB-NEW")); err != nil {
			t.Fatal(err)
		}
		click(t, "#tag-add button")
		waitJS(ctx, t, "added tag listed", `!!document.querySelector('tr[data-tag="WEB-NEW"][data-status="Accepted"]')`, 10*time.Second)
		click(t, `tr[data-tag="KEEP-1"] button[data-action="block"]`)
		waitJS(ctx, t, "tag blocked", `!!document.querySelector('tr[data-tag="KEEP-1"][data-status="Blocked"]')`, 10*time.Second)
		click(t, `tr[data-tag="WEB-NEW"] button[data-action="expire"]`)
		waitJS(ctx, t, "tag expired", `!!document.querySelector('tr[data-tag="WEB-NEW"][data-status="Expired"]')`, 10*time.Second)
		click(t, `tr[data-tag="GONE-1"] button[data-action="delete"]`)
		waitJS(ctx, t, "tag deleted", `document.readyState === 'complete' && !!document.querySelector('table.tags') && !document.querySelector('tr[data-tag="GONE-1"]')`, 10*time.Second)
		if tag, err := st.GetIDTag(context.Background(), "KEEP-1"); err != nil || tag.Status != cb.AuthBlocked {
			t.Errorf("KEEP-1 in the store: %+v, %v; want Blocked", tag, err)
		}
		if _, err := st.GetIDTag(context.Background(), "GONE-1"); !errors.Is(err, cb.ErrNotFound) {
			t.Errorf("GONE-1 in the store: %v; want not found", err)
		}
		// Search narrows the list as one types.
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#q"), "fleet")); err != nil {
			t.Fatal(err)
		}
		waitJS(ctx, t, "search hides others", `!document.querySelector('tr[data-tag="KEEP-1"]')`, 5*time.Second)
	})

	t.Run("tariffs", func(t *testing.T) {
		open(t, "/tariffs", "#tariff-add")
		// An invalid tariff is refused with its problems listed.
		evalString(ctx, t, `(document.getElementById('tariff-json').value = '{"country_code":"NL","party_id":"CBR","currency":"EURO","elements":[{"price_components":[{"type":"ENERGY","price":-1,"step_size":1}]}]}', 'ok')`)
		click(t, "#tariff-add button")
		waitJS(ctx, t, "problems listed", `document.getElementById('tariff-result').dataset.httpStatus === '400'`, 10*time.Second)
		if msg := evalString(ctx, t, `document.getElementById('tariff-result').textContent`); !strings.Contains(msg, "price") || !strings.Contains(msg, "currency") {
			t.Errorf("problems shown: %q; want the price and currency problems", msg)
		}
		// The example is valid: saved, listed.
		evalString(ctx, t, `(document.getElementById('tariff-json').value = document.getElementById('tariff-json').defaultValue, 'ok')`)
		click(t, "#tariff-add button")
		waitJS(ctx, t, "tariff listed", `!!document.querySelector('tr[data-tariff="AC-STANDARD"]')`, 10*time.Second)
		// Assign it to CP-WEB and preview the session's price with it.
		evalString(ctx, t, `(document.querySelector('#tariff-assign select[name=charger_id]').value = 'CP-WEB', 'ok')`)
		click(t, "#tariff-assign button")
		waitJS(ctx, t, "assignment shown", `document.querySelector('tr[data-tariff="AC-STANDARD"]').textContent.includes('CP-WEB')`, 10*time.Second)
		evalString(ctx, t, `(document.querySelector('#tariff-preview select[name=session_id]').value = '`+sessionID+`', 'ok')`)
		click(t, "#tariff-preview button")
		waitJS(ctx, t, "preview shown", `(document.getElementById('preview-out').textContent || '').includes('"total_cost"')`, 10*time.Second)
		out := evalString(ctx, t, `document.getElementById('preview-out').textContent`)
		if !strings.Contains(out, `"tariff_id": "AC-STANDARD"`) || !strings.Contains(out, `"session_id": "`+sessionID+`"`) {
			t.Errorf("preview: %s; want the session priced with AC-STANDARD", out)
		}
	})

	t.Run("map", func(t *testing.T) {
		open(t, "/map", "#map-svg")
		waitJS(ctx, t, "charger drawn online", `!!document.querySelector('#map-svg a[data-charger="CP-WEB"][data-online="true"] circle')`, 5*time.Second)
		if s := evalString(ctx, t, `document.querySelector('#map-svg a[data-charger="CP-WEB"]').dataset.status`); s != "faulted" {
			t.Errorf("map dot status %q; want faulted (connector 2 is)", s)
		}
		click(t, `#map-svg a[data-charger="CP-WEB"]`)
		waitJS(ctx, t, "dot links to the charger", `location.pathname === '/chargers/CP-WEB'`, 5*time.Second)
	})

	t.Run("alerts", func(t *testing.T) {
		open(t, "/alerts", "table.alerts")
		fault := `tr[data-kind="fault"]`
		waitJS(ctx, t, "fault listed", `!!document.querySelector('`+fault+`') && document.querySelector('`+fault+`').textContent.includes('GroundFailure')`, 5*time.Second)
		click(t, fault+" button")
		waitJS(ctx, t, "fault acknowledged", `document.readyState === 'complete' && !!document.querySelector('table.alerts') && !document.querySelector('`+fault+`')`, 10*time.Second)
		waitJS(ctx, t, "event stream connected", `document.getElementById('live').classList.contains('on')`, 10*time.Second)
		// A new fault shows up live.
		evalString(ctx, t, `String(window.__noReload = 1)`)
		cp.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "HighTemperature", "status": "Faulted", "timestamp": time.Now().UTC().Format(time.RFC3339)}, nil)
		waitJS(ctx, t, "new fault live", `!!document.querySelector('`+fault+`') && document.querySelector('`+fault+`').textContent.includes('HighTemperature')`, 15*time.Second)
		if s := evalString(ctx, t, `String(window.__noReload)`); s != "1" {
			t.Errorf("the alerts page reloaded; want a live update")
		}
	})

	t.Run("charger-config", func(t *testing.T) {
		fleet := runFleet(t, srv, sim.Config{IDPrefix: "CFG-", Connectors: 1, NoAutoStart: true, StepTime: 50 * time.Millisecond, Seed: 5}, 1)
		id := fleet.Chargers()[0].ID()
		waitFor := func(what string, ok func() bool) {
			t.Helper()
			for i := 0; i < 100 && !ok(); i++ {
				time.Sleep(100 * time.Millisecond)
			}
			if !ok() {
				t.Fatalf("%s: not within 10s", what)
			}
		}
		waitFor("sim charger connected", func() bool {
			c, err := st.GetCharger(context.Background(), id)
			return err == nil && c.LastBootAt != nil
		})
		open(t, "/chargers/"+id, "#frames-switch")
		// The message log is off by default; switching it on records from now.
		if s := evalString(ctx, t, `document.getElementById('frames-state').dataset.on`); s != "false" {
			t.Fatalf("message log state %q; want off by default", s)
		}
		click(t, "#frames-switch button")
		waitJS(ctx, t, "message log on", `!!document.getElementById('frames-state') && document.getElementById('frames-state').dataset.on === 'true'`, 10*time.Second)

		// Read the configuration, then change a key from its row.
		click(t, "#get-config button")
		waitJS(ctx, t, "configuration shown", `!!document.querySelector('#config-out tr[data-key="HeartbeatInterval"]')`, 15*time.Second)
		click(t, `#config-out tr[data-key="HeartbeatInterval"] button`)
		evalString(ctx, t, `(document.querySelector('#change-config [name=value]').value = '120', 'ok')`)
		click(t, "#change-config button[type=submit]")
		waitJS(ctx, t, "change answered", `(document.getElementById('change-out').textContent || '').includes('Accepted')`, 15*time.Second)
		click(t, "#get-config button")
		waitJS(ctx, t, "changed value read back", `!!document.querySelector('#config-out tr[data-key="HeartbeatInterval"]') && document.querySelector('#config-out tr[data-key="HeartbeatInterval"] td.mono').textContent === '120'`, 15*time.Second)

		// Diagnostics: the request is answered with a file name, and the
		// charger's status notifications show on the page.
		evalString(ctx, t, `(document.querySelector('#get-diagnostics [name=location]').value = 'ftp://diag.example.com/upload', 'ok')`)
		click(t, "#get-diagnostics button")
		waitJS(ctx, t, "diagnostics answered", `(document.getElementById('firmware-out').textContent || '').includes('fileName')`, 15*time.Second)
		waitFor("DiagnosticsStatusNotification Uploaded recorded", func() bool {
			evs, _ := st.ListEvents(context.Background(), id, 10)
			for _, e := range evs {
				if e.Kind == "DiagnosticsStatusNotification" && strings.Contains(string(e.Payload), "Uploaded") {
					return true
				}
			}
			return false
		})
		open(t, "/chargers/"+id, "#frames")
		if s := evalString(ctx, t, `document.getElementById('diagnostics-status').textContent`); !strings.Contains(s, "Uploaded") {
			t.Errorf("diagnostics status %q; want Uploaded", s)
		}
		// The message log shows both directions, the commands included.
		waitJS(ctx, t, "messages logged", `!!document.querySelector('table.frames tr[data-dir="out"]') && !!document.querySelector('table.frames tr[data-dir="in"]') && document.querySelector('table.frames').textContent.includes('"ChangeConfiguration"')`, 5*time.Second)
		click(t, "#frames-switch button")
		waitJS(ctx, t, "message log off", `!!document.getElementById('frames-state') && document.getElementById('frames-state').dataset.on === 'false' && !document.querySelector('table.frames')`, 10*time.Second)
	})

	t.Run("partners", func(t *testing.T) {
		emsp := newTestEMSP(t)
		open(t, "/partners", "#party-register")
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#party-url"), emsp.URL+"/versions"), chromedp.SendKeys(chromedp.CSS("#party-token"), "TOKEN-A-1")); err != nil {
			t.Fatal(err)
		}
		click(t, "#party-register button")
		party := `section[data-party="NL-EMP"]`
		waitJS(ctx, t, "party registered", `!!document.querySelector('`+party+`[data-status="REGISTERED"]') && document.querySelector('`+party+`').textContent.includes('locations')`, 15*time.Second)

		// The party is down: a status change is pushed and fails; the page
		// shows the waiting push with its error.
		emsp.down.Store(true)
		cp.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": time.Now().UTC().Format(time.RFC3339)}, nil)
		for i := 0; i < 100 && emsp.failed.Load() == 0; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if emsp.failed.Load() == 0 {
			t.Fatal("no push reached the party")
		}
		open(t, "/partners", party)
		waitJS(ctx, t, "failed push shown", `!!document.querySelector('`+party+` tr[data-push]:not([data-attempts="0"])') && document.querySelector('`+party+` .pushes').textContent.includes('503')`, 10*time.Second)

		// Back up: retry now delivers at once (the backoff would wait).
		emsp.down.Store(false)
		before := emsp.ok.Load()
		click(t, party+` button[data-action="retry"]`)
		for i := 0; i < 100 && emsp.ok.Load() == before; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if emsp.ok.Load() == before {
			t.Fatal("retry now: the party got nothing")
		}
		open(t, "/partners", party)
		waitJS(ctx, t, "outbox drained", `document.querySelector('`+party+`').dataset.outbox === '0'`, 10*time.Second)

		// Down again: a failing push can be dropped.
		emsp.down.Store(true)
		failed := emsp.failed.Load()
		cp.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Unavailable", "timestamp": time.Now().UTC().Format(time.RFC3339)}, nil)
		for i := 0; i < 100 && emsp.failed.Load() == failed; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		open(t, "/partners", party+` button[data-action="drop"]`)
		n := evalString(ctx, t, `document.querySelector('`+party+`').dataset.outbox`)
		click(t, party+` button[data-action="drop"]`)
		waitJS(ctx, t, "push dropped", `!!document.querySelector('`+party+`') && document.querySelector('`+party+`').dataset.outbox !== '`+n+`'`, 10*time.Second)

		// Unregister: the party's status says so and its token is refused.
		click(t, party+` button[data-action="unregister"]`)
		waitJS(ctx, t, "party unregistered", `!!document.querySelector('`+party+`[data-status="UNREGISTERED"]')`, 10*time.Second)
		if !emsp.deleted.Load() {
			t.Errorf("the party was not told (no DELETE of our credentials)")
		}
	})

	t.Run("delete-charger", func(t *testing.T) {
		if code := srv.PostJSON("/api/v1/chargers", map[string]any{"id": "CP-OLD"}, nil); code != http.StatusCreated {
			t.Fatalf("add charger: %d", code)
		}
		open(t, "/chargers/CP-OLD", "#delete-charger-button")
		click(t, "#delete-charger-button")
		waitJS(ctx, t, "back on the chargers list", `location.pathname === '/chargers' && !!document.querySelector('table.chargers')`, 10*time.Second)
		if n := evalString(ctx, t, `String(document.querySelectorAll('tr[data-charger="CP-OLD"]').length)`); n != "0" {
			t.Errorf("CP-OLD still listed")
		}
		// A connected charger is refused without force, with the reason shown.
		open(t, "/chargers/CP-WEB", "#delete-charger-button")
		click(t, "#delete-charger-button")
		waitJS(ctx, t, "refusal shown", `(document.querySelector('#delete-charger [data-result]').dataset.httpStatus || '') === '409'`, 10*time.Second)
		if _, err := st.GetCharger(context.Background(), "CP-WEB"); err != nil {
			t.Errorf("CP-WEB after a refused delete: %v", err)
		}
	})
}

// testEMSP is a real HTTP OCPI 2.2.1 eMSP: versions, credentials and a
// locations receiver that answers 503 while down.
type testEMSP struct {
	*httptest.Server
	down       atomic.Bool
	ok, failed atomic.Int64
	deleted    atomic.Bool
}

func newTestEMSP(t *testing.T) *testEMSP {
	e := &testEMSP{}
	reply := func(w http.ResponseWriter, status int, data any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		code := 1000
		if status >= 500 {
			code = 3000
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status_code": code, "data": data, "timestamp": time.Now().UTC().Format(time.RFC3339)})
	}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := e.URL
		switch {
		case r.URL.Path == "/versions":
			reply(w, 200, []any{map[string]any{"version": "2.2.1", "url": base + "/2.2.1"}})
		case r.URL.Path == "/2.2.1":
			reply(w, 200, map[string]any{"version": "2.2.1", "endpoints": []any{
				map[string]any{"identifier": "credentials", "role": "RECEIVER", "url": base + "/credentials"},
				map[string]any{"identifier": "locations", "role": "RECEIVER", "url": base + "/locations"},
			}})
		case r.URL.Path == "/credentials" && r.Method == http.MethodPost:
			reply(w, 200, map[string]any{"token": "TOKEN-C-EMP", "url": base + "/versions", "roles": []any{
				map[string]any{"role": "EMSP", "party_id": "EMP", "country_code": "NL", "business_details": map[string]any{"name": "Test eMSP"}}}})
		case r.URL.Path == "/credentials" && r.Method == http.MethodDelete:
			e.deleted.Store(true)
			reply(w, 200, nil)
		case strings.HasPrefix(r.URL.Path, "/locations"):
			_, _ = io.Copy(io.Discard, r.Body)
			if e.down.Load() {
				e.failed.Add(1)
				reply(w, http.StatusServiceUnavailable, nil)
				return
			}
			e.ok.Add(1)
			reply(w, 200, nil)
		default:
			reply(w, 404, nil)
		}
	}))
	t.Cleanup(e.Close)
	return e
}
