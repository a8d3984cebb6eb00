package ocpi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// runSim starts a simulated charger that charges only when told to.
func runSim(t testing.TB, s *cbtest.Server, id string) *sim.Charger {
	t.Helper()
	ch, err := sim.NewCharger(sim.Config{
		URL: "ws://" + s.Addr + "/ocpp", Connectors: 2, NoAutoStart: true, TimeScale: 60,
		MeterInterval: 100 * time.Millisecond, StepTime: time.Minute, RebootTime: 300 * time.Millisecond,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		FinishingTime: sim.DurationRange{Min: 100 * time.Millisecond, Max: 200 * time.Millisecond},
	}, id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ch.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "charger "+id+" to boot", func() bool {
		c, err := s.Service().Store().GetCharger(context.Background(), id)
		return err == nil && c.BootStatus == charging.BootAccepted && len(c.Connectors) >= 3
	})
	return ch
}

// pushesTo returns the pushes whose path starts with prefix.
func pushesTo(e *emsp, method, prefix string) []received {
	var out []received
	for _, p := range e.pushes() {
		if (method == "" || p.Method == method) && strings.HasPrefix(p.Path, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// pullAll GETs every page of a list, following Link rel="next", and
// checks the pagination headers on the way.
func pullAll(t testing.TB, e *emsp, url string) []json.RawMessage {
	t.Helper()
	var all []json.RawMessage
	next := url
	for pages := 0; next != ""; pages++ {
		if pages > 1000 {
			t.Fatal("more than 1000 pages")
		}
		st, env, h := e.call(http.MethodGet, next, nil)
		if st != 200 || env.StatusCode != 1000 {
			t.Fatalf("GET %s: HTTP %d %+v", next, st, env)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(env.Data, &items); err != nil {
			t.Fatalf("GET %s: data is not a list: %s", next, env.Data)
		}
		if h.Get("X-Total-Count") == "" || h.Get("X-Limit") == "" {
			t.Fatalf("GET %s: missing X-Total-Count or X-Limit: %v", next, h)
		}
		all = append(all, items...)
		next = ""
		if l := h.Get("Link"); l != "" {
			m := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("Link %q is not <url>; rel=\"next\"", l)
			}
			next = m[1]
		}
	}
	return all
}

// checkAgainstExample checks that every field of got exists in the spec's
// example of the object (or in extra, fields the example happens to leave
// out) with the same JSON type, recursively, and that got has every field
// in required.
func checkAgainstExample(t testing.TB, what string, got []byte, example string, extra []string, required []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "spec", example))
	if err != nil {
		t.Fatal(err)
	}
	var ex, g any
	if err := json.Unmarshal(b, &ex); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	allowed := map[string]bool{}
	for _, f := range extra {
		allowed[f] = true
	}
	compareShape(t, what, g, ex, "", allowed)
	gm, _ := g.(map[string]any)
	for _, f := range required {
		if _, ok := gm[f]; !ok {
			t.Errorf("%s lacks required field %s: %s", what, f, got)
		}
	}
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}

func compareShape(t testing.TB, what string, got, ex any, path string, allowed map[string]bool) {
	t.Helper()
	if kind(got) != kind(ex) {
		t.Errorf("%s: %s is %s; the spec example has %s", what, path, kind(got), kind(ex))
		return
	}
	switch g := got.(type) {
	case map[string]any:
		em := ex.(map[string]any)
		for k, v := range g {
			p := strings.TrimPrefix(path+"."+k, ".")
			ev, ok := em[k]
			if !ok {
				if !allowed[p] {
					t.Errorf("%s: field %s is not in the spec example", what, p)
				}
				continue
			}
			compareShape(t, what, v, ev, p, allowed)
		}
	case []any:
		ea := ex.([]any)
		if len(ea) == 0 {
			return
		}
		for _, v := range g {
			compareShape(t, what, v, ea[0], path+"[]", allowed)
		}
	}
}

func TestPushesAndPullsWithSimulator(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	e.register(s)
	ch := runSim(t, s, "CP-OCPI")

	// The charger's Location is PUT when it is first heard of.
	waitFor(t, "location PUT", func() bool { return len(pushesTo(e, "PUT", "/locations/NL/CBR/CP-OCPI")) > 0 })
	put := pushesTo(e, "PUT", "/locations/NL/CBR/CP-OCPI")[0]
	checkAgainstExample(t, "pushed Location", put.Body, "location_example.json",
		[]string{"evses[].connectors[].max_electric_power"},
		[]string{"country_code", "party_id", "id", "publish", "address", "city", "country", "coordinates", "time_zone", "last_updated"})
	if put.Header.Get("OCPI-to-country-code") != "DE" || put.Header.Get("OCPI-from-party-id") != "CBR" {
		t.Errorf("push routing headers %v", put.Header)
	}

	if err := ch.StartSession(1, "04AABBCCDD"); err != nil {
		t.Fatal(err)
	}
	var sessionID string
	waitFor(t, "session PUT", func() bool {
		ps := pushesTo(e, "PUT", "/sessions/NL/CBR/")
		if len(ps) > 0 {
			sessionID = strings.TrimPrefix(ps[0].Path, "/sessions/NL/CBR/")
		}
		return sessionID != ""
	})
	// Told by a PATCH of the EVSE, or by a PUT of the whole Location when
	// the worker, behind the charger, builds one that already has it
	// (connector 2's first status needs the whole Location).
	waitFor(t, "EVSE status CHARGING", func() bool {
		for _, p := range pushesTo(e, "PATCH", "/locations/NL/CBR/CP-OCPI/CP-OCPI-1") {
			if strings.Contains(string(p.Body), `"CHARGING"`) {
				checkAgainstExample(t, "EVSE PATCH", p.Body, "location_patch_example_status.json", nil, []string{"status", "last_updated"})
				return true
			}
		}
		for _, p := range pushesTo(e, "PUT", "/locations/NL/CBR/CP-OCPI") {
			if strings.Contains(string(p.Body), `{"uid":"CP-OCPI-1","evse_id":"NL*CBR*ECPOCPI*1","status":"CHARGING"`) {
				return true
			}
		}
		return false
	})
	waitFor(t, "a PATCH with energy", func() bool {
		for _, p := range pushesTo(e, "PATCH", "/sessions/NL/CBR/"+sessionID) {
			var m map[string]any
			_ = json.Unmarshal(p.Body, &m)
			if k, ok := m["kwh"].(float64); ok && k > 0 {
				return true
			}
		}
		return false
	})
	// A few meter intervals: enough telemetry PATCHes for the rate limit
	// below to matter.
	waitFor(t, "three PATCHes with energy", func() bool {
		n := 0
		for _, p := range pushesTo(e, "PATCH", "/sessions/NL/CBR/"+sessionID) {
			var m map[string]any
			_ = json.Unmarshal(p.Body, &m)
			if k, ok := m["kwh"].(float64); ok && k > 0 {
				n++
			}
		}
		return n >= 3
	})
	if err := ch.StopSession(1, "Local"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "CDR POST", func() bool { return len(pushesTo(e, "POST", "/cdrs")) > 0 })
	waitFor(t, "EVSE back to AVAILABLE", func() bool {
		ps := pushesTo(e, "PATCH", "/locations/NL/CBR/CP-OCPI/CP-OCPI-1")
		return len(ps) > 0 && strings.Contains(string(ps[len(ps)-1].Body), `"AVAILABLE"`)
	})

	t.Run("session-pushes-in-order", func(t *testing.T) {
		ps := pushesTo(e, "", "/sessions/NL/CBR/"+sessionID)
		if ps[0].Method != "PUT" {
			t.Fatalf("first push of the session is %s; want PUT", ps[0].Method)
		}
		checkAgainstExample(t, "pushed Session", ps[0].Body, "session_example_2_short_finished.json",
			[]string{"authorization_reference", "meter_id"},
			[]string{"country_code", "party_id", "id", "start_date_time", "kwh", "cdr_token", "auth_method", "location_id", "evse_uid", "connector_id", "currency", "status", "last_updated"})
		lastKWh, lastUpdated := -1.0, ""
		status := ""
		for i, p := range ps[1:] {
			if p.Method != "PATCH" {
				t.Fatalf("push %d of the session is %s; want PATCH", i+1, p.Method)
			}
			var m map[string]any
			if err := json.Unmarshal(p.Body, &m); err != nil {
				t.Fatal(err)
			}
			lu, _ := m["last_updated"].(string)
			if lu == "" || lu < lastUpdated {
				t.Fatalf("PATCH %d last_updated %q after %q", i, lu, lastUpdated)
			}
			lastUpdated = lu
			if k, ok := m["kwh"].(float64); ok {
				if k < lastKWh {
					t.Fatalf("kwh went down: %v after %v", k, lastKWh)
				}
				lastKWh = k
			}
			if st, ok := m["status"].(string); ok {
				status = st
			}
		}
		if status != "COMPLETED" || lastKWh <= 0 {
			t.Fatalf("last status %q kwh %v; want COMPLETED with energy", status, lastKWh)
		}
	})
	t.Run("telemetry-patches-are-rate-limited", func(t *testing.T) {
		ps := pushesTo(e, "PATCH", "/sessions/NL/CBR/"+sessionID)
		n := 0
		for i := 1; i < len(ps); i++ {
			if ps[i].At.Sub(ps[i-1].At) < 100*time.Millisecond {
				n++
			}
		}
		// Status changes may come right after a meter PATCH; meter
		// values every 100 ms must not each make one.
		if n > 3 {
			t.Fatalf("%d PATCHes less than 100 ms apart (interval 200 ms, meter values every 100 ms)", n)
		}
	})
	var cdrBody json.RawMessage
	t.Run("cdr", func(t *testing.T) {
		cdrs := pushesTo(e, "POST", "/cdrs")
		if len(cdrs) != 1 {
			t.Fatalf("%d CDR POSTs; want 1", len(cdrs))
		}
		cdrBody = cdrs[0].Body
		checkAgainstExample(t, "pushed CDR", cdrBody, "cdr_example.json",
			[]string{"session_id", "remark", "charging_periods[].dimensions", "authorization_reference", "meter_id", "total_parking_time"},
			[]string{"country_code", "party_id", "id", "start_date_time", "end_date_time", "cdr_token", "auth_method", "cdr_location", "currency", "charging_periods", "total_cost", "total_energy", "total_time", "last_updated"})
		var cdr map[string]any
		_ = json.Unmarshal(cdrBody, &cdr)
		if cdr["id"] != sessionID || cdr["total_energy"].(float64) <= 0 {
			t.Fatalf("CDR %s", cdrBody)
		}
	})
	t.Run("pull-sessions-page-by-page", func(t *testing.T) {
		all := pullAll(t, e, s.URL()+"/ocpi/2.2.1/sessions?limit=1")
		if len(all) != 1 {
			t.Fatalf("%d sessions; want 1", len(all))
		}
		var got map[string]any
		_ = json.Unmarshal(all[0], &got)
		if got["id"] != sessionID || got["status"] != "COMPLETED" {
			t.Fatalf("pulled session %s", all[0])
		}
	})
	t.Run("pull-cdrs", func(t *testing.T) {
		all := pullAll(t, e, s.URL()+"/ocpi/2.2.1/cdrs")
		if len(all) != 1 || string(all[0]) != string(cdrBody) {
			t.Fatalf("pulled CDRs %s; want the one POSTed %s", all, cdrBody)
		}
	})
	t.Run("pull-locations-and-one-by-one", func(t *testing.T) {
		all := pullAll(t, e, s.URL()+"/ocpi/2.2.1/locations")
		if len(all) != 1 {
			t.Fatalf("%d locations; want 1", len(all))
		}
		var loc struct {
			ID    string `json:"id"`
			EVSEs []struct {
				UID    string `json:"uid"`
				Status string `json:"status"`
			} `json:"evses"`
		}
		_ = json.Unmarshal(all[0], &loc)
		if loc.ID != "CP-OCPI" || len(loc.EVSEs) != 2 || loc.EVSEs[0].UID != "CP-OCPI-1" || loc.EVSEs[1].UID != "CP-OCPI-2" {
			t.Fatalf("location %s", all[0])
		}
		for _, tt := range []struct {
			path string
			want int
			code int
		}{
			{"/CP-OCPI", 200, 1000},
			{"/CP-OCPI/CP-OCPI-2", 200, 1000},
			{"/CP-OCPI/CP-OCPI-2/1", 200, 1000},
			{"/NOPE", 404, 2003},
			{"/CP-OCPI/CP-OCPI-9", 404, 2003},
			{"/CP-OCPI/CP-OCPI-2/2", 404, 2003},
		} {
			st, env, _ := e.call(http.MethodGet, s.URL()+"/ocpi/2.2.1/locations"+tt.path, nil)
			if st != tt.want || env.StatusCode != tt.code {
				t.Errorf("GET %s: HTTP %d %d; want %d %d", tt.path, st, env.StatusCode, tt.want, tt.code)
			}
		}
	})
}

// TestPagination checks the edges of date_from, date_to, offset and limit
// on CDRs (documents with known last_updated).
func TestPagination(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	e.register(s)
	docs, _ := s.Service().Docs()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 25; i++ {
		at := base.Add(time.Duration(i) * time.Hour)
		body, _ := json.Marshal(map[string]any{"id": "cdr-" + strconv.Itoa(i), "last_updated": at.Format(time.RFC3339)})
		if err := docs.PutDoc(context.Background(), charging.Doc{Kind: "ocpi_cdr", ID: "cdr-" + strconv.Itoa(100+i), Body: body, Updated: at}); err != nil {
			t.Fatal(err)
		}
	}
	u := s.URL() + "/ocpi/2.2.1/cdrs"
	ids := func(items []json.RawMessage) []string {
		var out []string
		for _, it := range items {
			var m map[string]any
			_ = json.Unmarshal(it, &m)
			out = append(out, m["id"].(string))
		}
		return out
	}
	tests := []struct {
		name       string
		query      string
		wantIDs    string // first and last id, and count
		wantTotal  string
		wantLink   bool
		wantStatus int
	}{
		{"first-page", "?limit=10", "cdr-0..cdr-9/10", "25", true, 200},
		{"last-partial-page", "?offset=20&limit=10", "cdr-20..cdr-24/5", "25", false, 200},
		{"exact-end", "?offset=15&limit=10", "cdr-15..cdr-24/10", "25", false, 200},
		{"offset-past-end", "?offset=30&limit=10", "/0", "25", false, 200},
		{"limit-above-max", "?limit=1000", "cdr-0..cdr-24/25", "25", false, 200},
		{"limit-zero", "?limit=0", "/0", "25", false, 200},
		{"date-from-inclusive", "?date_from=2026-01-01T05:00:00Z", "cdr-5..cdr-24/20", "20", false, 200},
		{"date-to-exclusive", "?date_to=2026-01-01T05:00:00Z", "cdr-0..cdr-4/5", "5", false, 200},
		{"window", "?date_from=2026-01-01T03:00:00Z&date_to=2026-01-01T06:00:00Z&limit=2", "cdr-3..cdr-4/2", "3", true, 200},
		{"empty-window", "?date_from=2027-01-01T00:00:00Z", "/0", "0", false, 200},
		{"bad-date", "?date_from=yesterday", "", "", false, 400},
		{"bad-offset", "?offset=-1", "", "", false, 400},
		{"bad-limit", "?limit=x", "", "", false, 400},
		{"made-up-cursor", "?after=garbage", "", "", false, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, env, h := e.call(http.MethodGet, u+tt.query, nil)
			if st != tt.wantStatus {
				t.Fatalf("HTTP %d %+v; want %d", st, env, tt.wantStatus)
			}
			if st != 200 {
				if env.StatusCode != 2001 {
					t.Fatalf("status_code %d; want 2001", env.StatusCode)
				}
				return
			}
			var items []json.RawMessage
			if err := json.Unmarshal(env.Data, &items); err != nil {
				t.Fatalf("data %s is not a list", env.Data)
			}
			got := "/" + strconv.Itoa(len(items))
			if is := ids(items); len(is) > 0 {
				got = is[0] + ".." + is[len(is)-1] + got
			}
			if got != tt.wantIDs || h.Get("X-Total-Count") != tt.wantTotal || h.Get("X-Limit") != "100" {
				t.Fatalf("got %s total %s limit %s; want %s total %s limit 100", got, h.Get("X-Total-Count"), h.Get("X-Limit"), tt.wantIDs, tt.wantTotal)
			}
			if (h.Get("Link") != "") != tt.wantLink {
				t.Fatalf("Link %q; want a next link %v", h.Get("Link"), tt.wantLink)
			}
			if tt.wantLink && !strings.Contains(h.Get("Link"), "date_from") && strings.Contains(tt.query, "date_from") {
				t.Fatalf("Link %q lost the date_from filter", h.Get("Link"))
			}
		})
	}
	t.Run("crawl-every-page", func(t *testing.T) {
		all := ids(pullAll(t, e, u+"?limit=7"))
		want := make([]string, 25)
		for i := range want {
			want[i] = "cdr-" + strconv.Itoa(i)
		}
		if strings.Join(all, ",") != strings.Join(want, ",") {
			t.Fatalf("crawled %v; want %v", all, want)
		}
		sort.Strings(all)
	})
	// A document seen on the first page changes while the eMSP pages on
	// (it moves to the end of the list, by last_updated). Counted by
	// offset, every later document would shift back by one and the first
	// of the second page would never be served; the Link's cursor starts
	// the second page after the first page's last document.
	t.Run("a-change-while-paging-skips-nothing", func(t *testing.T) {
		st, env, h := e.call(http.MethodGet, u+"?limit=7", nil)
		if st != 200 || env.StatusCode != 1000 {
			t.Fatalf("first page: HTTP %d %+v", st, env)
		}
		var first []json.RawMessage
		if err := json.Unmarshal(env.Data, &first); err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(h.Get("Link"))
		if m == nil || !strings.Contains(m[1], "after=") {
			t.Fatalf("Link %q: want a next link with a cursor", h.Get("Link"))
		}
		at := base.Add(100 * time.Hour)
		body, _ := json.Marshal(map[string]any{"id": "cdr-2", "last_updated": at.Format(time.RFC3339)})
		if err := docs.PutDoc(context.Background(), charging.Doc{Kind: "ocpi_cdr", ID: "cdr-102", Body: body, Updated: at}); err != nil {
			t.Fatal(err)
		}
		rest := pullAll(t, e, m[1])
		got := strings.Join(append(ids(first), ids(rest)...), ",")
		want := "cdr-0,cdr-1,cdr-2,cdr-3,cdr-4,cdr-5,cdr-6,cdr-7,cdr-8,cdr-9,cdr-10,cdr-11,cdr-12,cdr-13,cdr-14,cdr-15,cdr-16,cdr-17,cdr-18,cdr-19,cdr-20,cdr-21,cdr-22,cdr-23,cdr-24,cdr-2"
		if got != want {
			t.Fatalf("paged %s; want every CDR, the changed one again at the end: %s", got, want)
		}
	})
}
