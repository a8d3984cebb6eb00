package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
)

// charging starts a server with one raw charger CP-WEB that booted and
// started a transaction with two meter samples; it returns the session id.
func charging(t *testing.T, opts ...cbtest.Option) (*cbtest.Server, *cbtest.Client, int64, string) {
	t.Helper()
	opts = append([]cbtest.Option{cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true })}, opts...)
	srv := cbtest.Start(t, opts...)
	c := srv.MustDial("CP-WEB")
	c.MustCall("BootNotification", map[string]any{"chargePointVendor": "Acme", "chargePointModel": "AC22", "firmwareVersion": "9.8.7"}, nil)
	now := time.Now().UTC()
	c.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": now.Format(time.RFC3339)}, nil)
	c.MustCall("StatusNotification", map[string]any{"connectorId": 2, "errorCode": "GroundFailure", "status": "Faulted", "timestamp": now.Format(time.RFC3339)}, nil)
	var start struct {
		TransactionID int64 `json:"transactionId"`
	}
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "04WEBTAG", "meterStart": 1000, "timestamp": now.Add(-2 * time.Minute).Format(time.RFC3339)}, &start)
	for i, wh := range []string{"2000", "3500"} {
		c.MustCall("MeterValues", meterValues(start.TransactionID, now.Add(time.Duration(i-1)*time.Minute), wh, "11000", "40"), nil)
	}
	sess, err := srv.Service().Store().SessionByTransaction(context.Background(), "CP-WEB", strconv.FormatInt(start.TransactionID, 10))
	if err != nil {
		t.Fatalf("session of transaction %d: %v", start.TransactionID, err)
	}
	return srv, c, start.TransactionID, sess.ID
}

func meterValues(tx int64, at time.Time, wh, w, soc string) map[string]any {
	return map[string]any{"connectorId": 1, "transactionId": tx, "meterValue": []any{map[string]any{
		"timestamp": at.Format(time.RFC3339),
		"sampledValue": []any{
			map[string]any{"value": wh, "unit": "Wh", "measurand": "Energy.Active.Import.Register"},
			map[string]any{"value": w, "unit": "W", "measurand": "Power.Active.Import"},
			map[string]any{"value": soc, "unit": "Percent", "measurand": "SoC", "location": "EV"},
		},
	}}}
}

func get(t *testing.T, client *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPages(t *testing.T) {
	srv, _, _, id := charging(t)
	tests := []struct {
		name     string
		path     string
		status   int
		contains []string
		lacks    []string
	}{
		{"overview", "/", 200, []string{`id="chargers-online">1<`, `id="sessions-active">1<`, `id="energy-today">2.50<`, "GroundFailure", "open · no login"}, nil},
		{"chargers", "/chargers", 200, []string{`data-charger="CP-WEB" data-online="true"`, "c-charging", "c-faulted", "9.8.7"}, nil},
		{"chargers-search-hit", "/chargers?q=acme", 200, []string{`data-charger="CP-WEB"`}, nil},
		{"chargers-search-miss", "/chargers?q=zzz", 200, []string{"No charger matches"}, []string{`data-charger="CP-WEB"`}},
		{"chargers-offline", "/chargers?state=offline", 200, nil, []string{`data-charger="CP-WEB"`}},
		{"chargers-faulted", "/chargers?status=Faulted", 200, []string{`data-charger="CP-WEB"`}, nil},
		{"chargers-reserved", "/chargers?status=Reserved", 200, nil, []string{`data-charger="CP-WEB"`}},
		{"charger", "/chargers/CP-WEB", 200, []string{`data-command="stop"`, `data-command="reset"`, `data-command="unlock"`, `data-command="change-availability"`, `data-command="start"`, `/stop"`, "OUTOFORDER", "04WEBTAG"}, nil},
		{"charger-unknown", "/chargers/NOPE", 404, []string{"not found"}, nil},
		{"sessions", "/sessions", 200, []string{`data-session="` + id + `" data-status="active"`, "2.50"}, nil},
		{"sessions-completed", "/sessions?status=completed", 200, []string{"No sessions match"}, nil},
		{"sessions-bad-status", "/sessions?status=bogus", 400, []string{"unknown session status"}, nil},
		{"session", "/sessions/" + id, 200, []string{`id="remote-stop"`, `id="chart-energy"`, "uPlot.iife.min.js", `data-live-tx=`, "11.0 kW now"}, nil},
		{"session-unknown", "/sessions/nope", 404, nil, nil},
		{"unknown-page", "/nope", 404, nil, nil},
		{"login-when-open-goes-home", "/login?next=/sessions", 200, []string{"<h1>Sessions</h1>"}, nil},
		{"script", "/static/app.js", 200, []string{"EventSource"}, nil},
		{"chart-library", "/static/uplot/uPlot.iife.min.js", 200, []string{"uPlot"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := get(t, http.DefaultClient, srv.URL()+tt.path)
			if st != tt.status {
				t.Fatalf("got %d; want %d\n%s", st, tt.status, body)
			}
			for _, s := range tt.contains {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tt.lacks {
				if strings.Contains(body, s) {
					t.Errorf("page has %q; want it filtered out", s)
				}
			}
		})
	}
}

func TestPageHeaders(t *testing.T) {
	srv, _, _, _ := charging(t)
	resp, err := http.Get(srv.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for h, want := range map[string]string{"Content-Security-Policy": "default-src 'self'", "X-Frame-Options": "DENY", "Content-Type": "text/html"} {
		if got := resp.Header.Get(h); !strings.Contains(got, want) {
			t.Errorf("%s = %q; want it to contain %q", h, got, want)
		}
	}
}

func TestSessionViews(t *testing.T) {
	srv, _, _, id := charging(t)
	var v struct {
		OCPI  map[string]any `json:"ocpi"`
		Beckn map[string]any `json:"beckn"`
	}
	if st := srv.GetJSON("/api/v1/sessions/"+id+"/views", &v); st != 200 {
		t.Fatalf("got %d; want 200", st)
	}
	if v.OCPI["id"] != id || v.OCPI["status"] != "ACTIVE" || v.OCPI["kwh"] != 2.5 || v.OCPI["evse_uid"] != "CP-WEB-1" {
		t.Errorf("OCPI view = %v; want session %s ACTIVE, 2.5 kWh, EVSE CP-WEB-1", v.OCPI, id)
	}
	if v.Beckn["sessionStatus"] != "ACTIVE" || v.Beckn["meteredEnergyKWh"] != 2.5 || v.Beckn["connectorStatus"] != "UNAVAILABLE" {
		t.Errorf("Beckn view = %v; want ACTIVE, 2.5 kWh, connector UNAVAILABLE (charging)", v.Beckn)
	}
	var e struct {
		Error string `json:"error"`
	}
	if st := srv.GetJSON("/api/v1/sessions/nope/views", &e); st != 404 || e.Error == "" {
		t.Errorf("unknown session: got %d %+v; want 404 with an error", st, e)
	}
}

// sse reads server-sent events.
type sse struct {
	r    *bufio.Reader
	body io.Closer
}

func openStream(t *testing.T, client *http.Client, u string) *sse {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("stream: got %d %s; want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sse{r: bufio.NewReader(resp.Body), body: resp.Body}
}

// next returns the next event's name and data.
func (s *sse) next(t *testing.T) (string, string) {
	t.Helper()
	var event, data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if event != "" || data != "" {
				return event, data
			}
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// until reads events until one named event whose data contains want.
func (s *sse) until(t *testing.T, event, want string) string {
	t.Helper()
	for i := 0; i < 50; i++ {
		e, d := s.next(t)
		if e == event && strings.Contains(d, want) {
			return d
		}
	}
	t.Fatalf("no %s event with %q in 50 events", event, want)
	return ""
}

func TestStream(t *testing.T) {
	srv, c, tx, id := charging(t)
	st := openStream(t, http.DefaultClient, srv.URL()+"/api/v1/stream")
	if e, d := st.next(t); e != "presence" || d != `{"online":1}` {
		t.Fatalf("first event %s %s; want presence {\"online\":1}", e, d)
	}
	c.MustCall("StatusNotification", map[string]any{"connectorId": 2, "errorCode": "NoError", "status": "Available", "timestamp": time.Now().UTC().Format(time.RFC3339)}, nil)
	st.until(t, "connector", `"charger_id":"CP-WEB","connector_id":2,"status":"Available"`)
	c.MustCall("MeterValues", meterValues(tx, time.Now().UTC(), "5000", "11000", "45"), nil)
	st.until(t, "session", `"transaction_id":"`+itoa(tx)+`","telemetry":true`)
	c.MustCall("StopTransaction", map[string]any{"transactionId": tx, "meterStop": 6000, "timestamp": time.Now().UTC().Format(time.RFC3339), "reason": "Remote"}, nil)
	d := st.until(t, "session", `"id":"`+id+`"`)
	var s struct {
		Status string  `json:"status"`
		KWh    float64 `json:"kwh"`
	}
	if err := json.Unmarshal([]byte(d), &s); err != nil || s.Status != "completed" || s.KWh != 5 {
		t.Fatalf("session event %s; want completed with 5 kWh", d)
	}
	c.Close()
	st.until(t, "presence", `{"online":0}`)
}

// TestStreamEndsOnShutdown checks that an open dashboard does not hold up
// the server's shutdown.
func TestStreamEndsOnShutdown(t *testing.T) {
	srv := cbtest.Start(t)
	st := openStream(t, http.DefaultClient, srv.URL()+"/api/v1/stream")
	st.next(t)
	start := time.Now()
	srv.Stop()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %s with a stream open; want it to end the stream at once", d)
	}
}

func TestLoginWithToken(t *testing.T) {
	const token = "web-test-token-0123456789"
	srv, _, _, id := charging(t, cbtest.Configure(func(c *server.Config) { c.APIToken = token }))
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// The API wants the bearer token; probes, metrics and chargers do not.
	for path, want := range map[string]int{"/api/v1/sessions": 401, "/api/v1/stream": 401, "/api/v1/sessions/" + id + "/views": 401, "/healthz": 200, "/metrics": 200} {
		if st, _ := get(t, noRedirect, srv.URL()+path); st != want {
			t.Errorf("GET %s without credentials: got %d; want %d", path, st, want)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL()+"/api/v1/sessions", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /api/v1/sessions with the bearer token: got %d; want 200", resp.StatusCode)
	}
	if _, err := srv.Dial("CP-OTHER"); err != nil {
		t.Errorf("a charger could not connect on a token-protected server: %v", err)
	}

	// Pages send a browser to the login form and back.
	if st, _ := get(t, noRedirect, srv.URL()+"/sessions/"+id); st != http.StatusSeeOther {
		t.Errorf("GET a page without login: got %d; want 303 to the login form", st)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err = browser.PostForm(srv.URL()+"/login", url.Values{"token": {"wrong-token-0123456789"}, "next": {"/sessions/" + id}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), "not the server") {
		t.Errorf("wrong token: got %d; want 401 with the login form saying so", resp.StatusCode)
	}
	resp, err = browser.PostForm(srv.URL()+"/login", url.Values{"token": {token}, "next": {"/sessions/" + id}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/sessions/"+id || !strings.Contains(string(body), "Log out") {
		t.Fatalf("login: got %d at %s; want the session page with a logout button", resp.StatusCode, resp.Request.URL)
	}
	if st, _ := get(t, browser, srv.URL()+"/api/v1/sessions"); st != 200 {
		t.Errorf("API with the session cookie: got %d; want 200", st)
	}
	st := openStream(t, browser, srv.URL()+"/api/v1/stream")
	st.next(t)

	// Logging out ends the dashboard session.
	resp, err = browser.Post(srv.URL()+"/logout", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/login" {
		t.Errorf("logout ended at %s; want /login", resp.Request.URL.Path)
	}
	if st, _ := get(t, browser, srv.URL()+"/api/v1/sessions"); st != 401 {
		t.Errorf("API after logout: got %d; want 401", st)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
