package ocpi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// cdrPeer is an eMSP's CDRs receiver: POST stores a CDR and answers its
// URL as Location; GET of that URL answers the CDR, or 404.
type cdrPeer struct {
	srv *httptest.Server
	// mu guards the fields below.
	mu sync.Mutex
	// noLocation leaves the Location out of POST answers (the CDRs' URLs
	// cannot be told).
	noLocation bool
	cdrs       map[string]bool
	posts      map[string]int
	gets       int
}

func newCDRPeer(t *testing.T) *cdrPeer {
	p := &cdrPeer{cdrs: map[string]bool{}, posts: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		defer p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/cdrs":
			var c struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(body, &c)
			p.cdrs[c.ID] = true
			p.posts[c.ID]++
			if !p.noLocation {
				w.Header().Set("Location", p.srv.URL+"/cdrs/"+c.ID)
			}
			fmt.Fprint(w, `{"status_code":1000,"timestamp":"2026-12-05T00:00:00Z"}`)
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/cdrs/"):
			p.gets++
			id := strings.TrimPrefix(r.URL.Path, "/cdrs/")
			if !p.cdrs[id] {
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, `{"status_code":2000,"status_message":"unknown CDR","timestamp":"2026-12-05T00:00:00Z"}`)
				return
			}
			fmt.Fprintf(w, `{"data":{"id":%q},"status_code":1000,"timestamp":"2026-12-05T00:00:00Z"}`, id)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *cdrPeer) counts() (map[string]int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.posts {
		out[k] = v
	}
	return out, p.gets
}

// TestCDRReachesTheEMSPOnce: a CDR queued twice is POSTed once; a POST
// cut off mid-request (the push left marked Sending) is not sent again
// when the eMSP says it has the CDR, and is sent when it says 404; to an
// eMSP whose CDR URLs cannot be told (no Location), it is sent again.
func TestCDRReachesTheEMSPOnce(t *testing.T) {
	n := startNodes(t, 1, time.Second)[0]
	peer := newCDRPeer(t)
	registerPeer(t, n, "DE-EMS")
	cdr := func(id string, sending bool) push {
		return push{Peer: "DE-EMS", Object: "cdr " + id, Module: "cdrs", URL: peer.srv.URL + "/cdrs", Method: http.MethodPost,
			Body: json.RawMessage(`{"id":"` + id + `"}`), Once: id, Sending: sending}
	}
	add := func(ps ...push) {
		t.Helper()
		if err := n.cpo.out.add(t.Context(), ps...); err != nil {
			t.Fatal(err)
		}
		waitDrained(t, n, "DE-EMS", 10*time.Second)
	}
	// Delivered, and its URL's form learnt; then queued again (the node
	// that issued it died before storing it): not sent again.
	add(cdr("cdr-1", false))
	add(cdr("cdr-1", false))
	// Cut off after the eMSP took it: the eMSP is asked, and has it.
	peer.mu.Lock()
	peer.cdrs["cdr-2"] = true
	peer.mu.Unlock()
	add(cdr("cdr-2", true))
	// Cut off before the eMSP took it: asked, 404, sent.
	add(cdr("cdr-3", true))
	posts, gets := peer.counts()
	if want := map[string]int{"cdr-1": 1, "cdr-3": 1}; fmt.Sprint(posts) != fmt.Sprint(want) {
		t.Errorf("POSTs per CDR %v; want %v", posts, want)
	}
	if gets != 2 {
		t.Errorf("%d GETs of CDRs; want 2 (one per POST cut off)", gets)
	}

	// An eMSP whose CDR URLs cannot be told: a POST cut off is sent again
	// (the documented exception), a second copy still is not.
	other := newCDRPeer(t)
	other.noLocation = true
	registerPeer(t, n, "DE-OTH")
	oth := func(id string, sending bool) push {
		p := cdr(id, sending)
		p.Peer, p.URL = "DE-OTH", other.srv.URL+"/cdrs"
		return p
	}
	addOth := func(ps ...push) {
		t.Helper()
		if err := n.cpo.out.add(t.Context(), ps...); err != nil {
			t.Fatal(err)
		}
		waitDrained(t, n, "DE-OTH", 10*time.Second)
	}
	addOth(oth("cdr-4", false))
	addOth(oth("cdr-4", false))
	other.mu.Lock()
	other.cdrs["cdr-5"], other.posts["cdr-5"] = true, 1
	other.mu.Unlock()
	addOth(oth("cdr-5", true))
	posts, gets = other.counts()
	if want := map[string]int{"cdr-4": 1, "cdr-5": 2}; fmt.Sprint(posts) != fmt.Sprint(want) {
		t.Errorf("POSTs per CDR to the eMSP without CDR URLs %v; want %v", posts, want)
	}
	if gets != 0 {
		t.Errorf("%d GETs of CDRs at the eMSP without CDR URLs; want none", gets)
	}
}
