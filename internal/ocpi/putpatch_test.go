package ocpi_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestSessionPutBeforePatch: an eMSP cannot apply a PATCH to a session it
// was never sent (#18 item 3). One that registers while a session runs
// gets a PUT of the whole session before any PATCH, and then PATCHes; a
// PATCH the eMSP refuses as unknown (HTTP 404) is followed by a PUT of the
// whole session.
func TestSessionPutBeforePatch(t *testing.T) {
	s := startCPO(t)
	early := newEMSP(t)
	var refused atomic.Int32
	early.refuse = func(method, path string) int {
		// The first session PATCH after the first is refused as unknown.
		if method == http.MethodPatch && strings.Contains(path, "/sessions/") && refused.CompareAndSwap(0, 1) {
			return http.StatusNotFound
		}
		return 0
	}
	early.register(s)
	ch := runSim(t, s, "CP-LATE")
	if err := ch.StartSession(1, "04AABBCCDD"); err != nil {
		t.Fatal(err)
	}
	var sessionID string
	waitFor(t, "the session's PUT to the first eMSP", func() bool {
		if ps := pushesTo(early, http.MethodPut, "/sessions/NL/CBR/"); len(ps) > 0 {
			sessionID = strings.TrimPrefix(ps[0].Path, "/sessions/NL/CBR/")
		}
		return sessionID != ""
	})
	path := "/sessions/NL/CBR/" + sessionID

	late := newEMSP(t)
	late.tokenB += "-late"
	late.country, late.party = "FR", "LAT"
	late.register(s)
	waitFor(t, "pushes of the running session to the late eMSP, a PATCH among them", func() bool {
		return len(pushesTo(late, http.MethodPatch, path)) > 0
	})
	if err := ch.StopSession(1, "Local"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the CDR at the late eMSP", func() bool { return len(pushesTo(late, http.MethodPost, "/cdrs")) > 0 })

	t.Run("late-emsp-gets-put-first", func(t *testing.T) {
		ps := pushesTo(late, "", path)
		if ps[0].Method != http.MethodPut {
			t.Fatalf("first push of the running session to the late eMSP is %s; want PUT", ps[0].Method)
		}
		for _, f := range []string{`"start_date_time"`, `"cdr_token"`, `"location_id"`, `"kwh"`} {
			if !strings.Contains(string(ps[0].Body), f) {
				t.Errorf("the PUT lacks %s: %s", f, ps[0].Body)
			}
		}
		puts := 0
		for _, p := range ps {
			if p.Method == http.MethodPut {
				puts++
			}
		}
		if puts != 1 {
			t.Errorf("%d PUTs of the session to the late eMSP; want 1, then PATCHes", puts)
		}
	})

	t.Run("refused-patch-falls-back-to-put", func(t *testing.T) {
		if refused.Load() != 1 {
			t.Fatal("the first eMSP refused no PATCH; the test did not run its case")
		}
		ps := pushesTo(early, "", path)
		puts := 0
		for i, p := range ps {
			if p.Method == http.MethodPut {
				puts++
				if i > 0 && !strings.Contains(string(p.Body), `"start_date_time"`) {
					t.Errorf("the PUT after the refused PATCH is not the whole session: %s", p.Body)
				}
			}
		}
		if ps[0].Method != http.MethodPut || puts != 2 {
			t.Errorf("pushes to the first eMSP: first %s, %d PUTs; want the first PUT and one PUT for the refused PATCH", ps[0].Method, puts)
		}
	})
}
