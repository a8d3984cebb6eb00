package ocpi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// runSim1 starts a simulated charger with one connector that charges only
// when told to.
func runSim1(t testing.TB, s *cbtest.Server, id string) *sim.Charger {
	t.Helper()
	ch, err := sim.NewCharger(sim.Config{
		URL: "ws://" + s.Addr + "/ocpp", Connectors: 1, NoAutoStart: true, TimeScale: 60,
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
		return err == nil && c.BootStatus == charging.BootAccepted && len(c.Connectors) >= 2
	})
	return ch
}

type locationBody struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	EVSEs []struct {
		UID    string `json:"uid"`
		Status string `json:"status"`
	} `json:"evses"`
}

// evses lists a Location's EVSEs as "uid status".
func (l locationBody) evses() string {
	var out []string
	for _, e := range l.EVSEs {
		out = append(out, e.UID+" "+e.Status)
	}
	return strings.Join(out, ", ")
}

// lastLocationPut is the last whole Location the eMSP was sent at path.
func lastLocationPut(e *emsp, path string) (locationBody, bool) {
	ps := pushesTo(e, "PUT", path)
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].Path != path {
			continue
		}
		var l locationBody
		_ = json.Unmarshal(ps[i].Body, &l)
		return l, true
	}
	return locationBody{}, false
}

// waitLocationPut waits until the last Location PUT at path has the
// EVSEs want ("uid status, ...", statuses matched as prefixes of the
// pushed ones).
func waitLocationPut(t *testing.T, e *emsp, path, want string) locationBody {
	t.Helper()
	var got locationBody
	waitFor(t, "PUT "+path+" with EVSEs "+want, func() bool {
		l, ok := lastLocationPut(e, path)
		got = l
		return ok && l.evses() == want
	})
	return got
}

// TestSiteIsOneLocation: the chargers of a site are the EVSEs of one
// Location, id the site's, in what eMSPs are pushed and what they pull;
// the Locations the chargers had on their own are published as REMOVED;
// a session's location_id and its CDR's location are the site's; deleting
// the site gives the chargers their own Locations back.
func TestSiteIsOneLocation(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	e.register(s)
	chA := runSim1(t, s, "CP-A")
	chB := runSim1(t, s, "CP-B")
	waitLocationPut(t, e, "/locations/NL/CBR/CP-A", "CP-A-1 AVAILABLE")
	waitLocationPut(t, e, "/locations/NL/CBR/CP-B", "CP-B-1 AVAILABLE")

	site := map[string]any{"name": "Depot North", "max_power_kw": 44, "chargers": []string{"CP-A", "CP-B"}}
	if st := s.Do(http.MethodPut, "/api/v1/sites/DEPOT", site, nil); st != http.StatusOK {
		t.Fatalf("PUT site: HTTP %d", st)
	}
	loc := waitLocationPut(t, e, "/locations/NL/CBR/DEPOT", "CP-A-1 AVAILABLE, CP-B-1 AVAILABLE")
	if loc.ID != "DEPOT" || loc.Name != "Depot North" {
		t.Fatalf("site Location id %q name %q; want DEPOT, Depot North", loc.ID, loc.Name)
	}
	waitLocationPut(t, e, "/locations/NL/CBR/CP-A", "CP-A-1 REMOVED")
	waitLocationPut(t, e, "/locations/NL/CBR/CP-B", "CP-B-1 REMOVED")

	t.Run("pull-shows-one-live-location", func(t *testing.T) {
		var live []string
		for _, raw := range pullAll(t, e, s.URL()+"/ocpi/2.2.1/locations") {
			var l locationBody
			_ = json.Unmarshal(raw, &l)
			if !strings.Contains(l.evses(), "AVAILABLE") {
				if l.evses() != l.ID+"-1 REMOVED" {
					t.Errorf("pulled Location %s has EVSEs %s; want only %s-1 REMOVED", l.ID, l.evses(), l.ID)
				}
				continue
			}
			live = append(live, l.ID+": "+l.evses())
		}
		if want := "DEPOT: CP-A-1 AVAILABLE, CP-B-1 AVAILABLE"; strings.Join(live, "; ") != want {
			t.Fatalf("live Locations pulled %q; want %q", live, want)
		}
		for _, tt := range []struct {
			path string
			want int
		}{
			{"/DEPOT", 200},
			{"/DEPOT/CP-B-1", 200},
			{"/DEPOT/CP-B-1/1", 200},
			{"/DEPOT/CP-C-1", 404},
			{"/CP-A/CP-A-1", 200}, // as REMOVED
			{"/CP-A/CP-B-1", 404},
		} {
			if st, _, _ := e.call(http.MethodGet, s.URL()+"/ocpi/2.2.1/locations"+tt.path, nil); st != tt.want {
				t.Errorf("GET locations%s: HTTP %d; want %d", tt.path, st, tt.want)
			}
		}
	})

	t.Run("session-is-at-the-site", func(t *testing.T) {
		if err := chB.StartSession(1, "04AABBCCDD"); err != nil {
			t.Fatal(err)
		}
		var put received
		waitFor(t, "session PUT", func() bool {
			ps := pushesTo(e, "PUT", "/sessions/NL/CBR/")
			if len(ps) > 0 {
				put = ps[0]
			}
			return len(ps) > 0
		})
		var sess struct {
			ID         string `json:"id"`
			LocationID string `json:"location_id"`
			EVSEUID    string `json:"evse_uid"`
		}
		_ = json.Unmarshal(put.Body, &sess)
		if sess.LocationID != "DEPOT" || sess.EVSEUID != "CP-B-1" {
			t.Fatalf("session location_id %q evse_uid %q; want DEPOT, CP-B-1", sess.LocationID, sess.EVSEUID)
		}
		waitFor(t, "EVSE CHARGING PATCHed in the site's Location", func() bool {
			for _, p := range pushesTo(e, "PATCH", "/locations/NL/CBR/DEPOT/CP-B-1") {
				if strings.Contains(string(p.Body), `"CHARGING"`) {
					return true
				}
			}
			return false
		})
		if ps := pushesTo(e, "PATCH", "/locations/NL/CBR/CP-B/"); len(ps) > 0 {
			t.Fatalf("EVSE PATCHed in the charger's own Location: %s", ps[0].Path)
		}
		// A few meter intervals: the session has energy before it stops.
		waitFor(t, "a session PATCH with energy", func() bool {
			for _, p := range pushesTo(e, "PATCH", "/sessions/NL/CBR/"+sess.ID) {
				var m map[string]any
				_ = json.Unmarshal(p.Body, &m)
				if k, ok := m["kwh"].(float64); ok && k > 0 {
					return true
				}
			}
			return false
		})
		if err := chB.StopSession(1, "Local"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "CDR POST", func() bool { return len(pushesTo(e, "POST", "/cdrs")) > 0 })
		waitFor(t, "EVSE AVAILABLE again in the site's Location", func() bool {
			ps := pushesTo(e, "PATCH", "/locations/NL/CBR/DEPOT/CP-B-1")
			return len(ps) > 0 && strings.Contains(string(ps[len(ps)-1].Body), `"AVAILABLE"`)
		})
		var cdr struct {
			SessionID   string `json:"session_id"`
			CdrLocation struct {
				ID      string `json:"id"`
				Name    string `json:"name"`
				EVSEUID string `json:"evse_uid"`
			} `json:"cdr_location"`
		}
		_ = json.Unmarshal(pushesTo(e, "POST", "/cdrs")[0].Body, &cdr)
		if cdr.SessionID != sess.ID || cdr.CdrLocation.ID != "DEPOT" || cdr.CdrLocation.Name != "Depot North" || cdr.CdrLocation.EVSEUID != "CP-B-1" {
			t.Fatalf("CDR of %s at %+v; want session %s at DEPOT (Depot North), CP-B-1", cdr.SessionID, cdr.CdrLocation, sess.ID)
		}
		var pulled []struct {
			LocationID string `json:"location_id"`
		}
		for _, raw := range pullAll(t, e, s.URL()+"/ocpi/2.2.1/sessions") {
			var p struct {
				LocationID string `json:"location_id"`
			}
			_ = json.Unmarshal(raw, &p)
			pulled = append(pulled, p)
		}
		if len(pulled) != 1 || pulled[0].LocationID != "DEPOT" {
			t.Fatalf("pulled sessions %+v; want one at DEPOT", pulled)
		}
	})

	t.Run("command-at-the-site", func(t *testing.T) {
		// UNLOCK_CONNECTOR names the EVSE in the site's Location.
		for _, tt := range []struct {
			loc, evse string
			want      int
		}{
			{"DEPOT", "CP-A-1", 200},
			{"CP-A", "CP-A-1", 404}, // its EVSEs left the charger's own Location
			{"DEPOT", "CP-C-1", 404},
		} {
			u := e.url() + "/emsp/results/unlock-" + tt.loc + "-" + tt.evse
			st, code, cr := command(t, e, s.URL(), "UNLOCK_CONNECTOR", map[string]any{"response_url": u,
				"location_id": tt.loc, "evse_uid": tt.evse, "connector_id": "1"})
			if st != tt.want || (st == 200 && (code != 1000 || cr.Result != "ACCEPTED")) || (st == 404 && code != 2003) {
				t.Errorf("UNLOCK_CONNECTOR at %s %s: HTTP %d %d %+v; want %d", tt.loc, tt.evse, st, code, cr, tt.want)
			}
		}
	})

	t.Run("delete-site", func(t *testing.T) {
		if st := s.Do(http.MethodDelete, "/api/v1/sites/DEPOT", nil, nil); st != http.StatusNoContent && st != http.StatusOK {
			t.Fatalf("DELETE site: HTTP %d", st)
		}
		waitLocationPut(t, e, "/locations/NL/CBR/DEPOT", "CP-A-1 REMOVED, CP-B-1 REMOVED")
		waitLocationPut(t, e, "/locations/NL/CBR/CP-A", "CP-A-1 AVAILABLE")
		waitLocationPut(t, e, "/locations/NL/CBR/CP-B", "CP-B-1 AVAILABLE")
		var live []string
		for _, raw := range pullAll(t, e, s.URL()+"/ocpi/2.2.1/locations") {
			var l locationBody
			_ = json.Unmarshal(raw, &l)
			live = append(live, l.ID+": "+l.evses())
		}
		if want := "CP-A: CP-A-1 AVAILABLE; CP-B: CP-B-1 AVAILABLE; DEPOT: CP-A-1 REMOVED, CP-B-1 REMOVED"; strings.Join(slices.Sorted(slices.Values(live)), "; ") != want {
			t.Fatalf("pulled Locations %q; want %q", live, want)
		}
	})
	t.Run("open-session-moves-with-its-charger", func(t *testing.T) {
		if err := chA.StartSession(1, "04EEFF0011"); err != nil {
			t.Fatal(err)
		}
		var path string
		waitFor(t, "CP-A's session PUT at CP-A", func() bool {
			for _, p := range pushesTo(e, "PUT", "/sessions/NL/CBR/") {
				if strings.Contains(string(p.Body), `"location_id":"CP-A"`) {
					path = p.Path
					return true
				}
			}
			return false
		})
		if st := s.Do(http.MethodPut, "/api/v1/sites/DEPOT", site, nil); st != http.StatusOK {
			t.Fatalf("PUT site again: HTTP %d", st)
		}
		waitLocationPut(t, e, "/locations/NL/CBR/DEPOT", "CP-A-1 CHARGING, CP-B-1 AVAILABLE")
		waitLocationPut(t, e, "/locations/NL/CBR/CP-A", "CP-A-1 REMOVED")
		waitFor(t, "the session's location_id PATCHed to DEPOT", func() bool {
			for _, p := range pushesTo(e, "PATCH", path) {
				if strings.Contains(string(p.Body), `"location_id":"DEPOT"`) {
					return true
				}
			}
			return false
		})
	})
}
