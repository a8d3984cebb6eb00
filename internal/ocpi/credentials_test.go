package ocpi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/ocpi"
)

func TestVersionsAndHandshake(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	docs, _ := s.Service().Docs()
	tokA, err := ocpi.AddPeer(context.Background(), docs, "DE", "EMS", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.cpoToken = tokA
	base := s.URL() + "/ocpi/2.2.1"

	t.Run("versions-with-token-a", func(t *testing.T) {
		st, env, h := e.call(http.MethodGet, s.URL()+"/ocpi/versions", nil)
		if st != 200 || env.StatusCode != 1000 {
			t.Fatalf("GET versions: HTTP %d %+v", st, env)
		}
		var vs []ocpi.VersionInfo
		if err := json.Unmarshal(env.Data, &vs); err != nil || len(vs) != 1 || vs[0].Version != "2.2.1" || vs[0].URL != base {
			t.Fatalf("versions = %s; want one 2.2.1 at %s", env.Data, base)
		}
		if h.Get("X-Request-ID") != "req-1" || h.Get("X-Correlation-ID") != "corr-1" {
			t.Fatalf("X-Request-ID %q X-Correlation-ID %q; want the request's req-1, corr-1", h.Get("X-Request-ID"), h.Get("X-Correlation-ID"))
		}
		if h.Get("OCPI-from-country-code") != "NL" || h.Get("OCPI-from-party-id") != "CBR" || h.Get("OCPI-to-country-code") != "DE" || h.Get("OCPI-to-party-id") != "EMS" {
			t.Fatalf("routing headers %v; want from NL CBR to DE EMS", h)
		}
		if _, err := time.Parse(time.RFC3339, env.Timestamp); err != nil {
			t.Fatalf("timestamp %q: %v", env.Timestamp, err)
		}
	})
	t.Run("version-details", func(t *testing.T) {
		st, env, _ := e.call(http.MethodGet, base, nil)
		if st != 200 || env.StatusCode != 1000 {
			t.Fatalf("GET details: HTTP %d %+v", st, env)
		}
		var d ocpi.VersionDetails
		_ = json.Unmarshal(env.Data, &d)
		want := map[string]string{"credentials": "SENDER", "locations": "SENDER", "sessions": "SENDER", "cdrs": "SENDER", "tariffs": "SENDER", "tokens": "RECEIVER", "commands": "RECEIVER"}
		for _, ep := range d.Endpoints {
			if want[ep.Identifier] != ep.Role || ep.URL != base+"/"+ep.Identifier {
				t.Errorf("endpoint %+v unexpected", ep)
			}
			delete(want, ep.Identifier)
		}
		if d.Version != "2.2.1" || len(want) != 0 {
			t.Fatalf("details %s; missing %v", env.Data, want)
		}
	})
	t.Run("token-a-does-not-open-modules", func(t *testing.T) {
		if st, _, _ := e.call(http.MethodGet, base+"/locations", nil); st != http.StatusUnauthorized {
			t.Fatalf("GET locations with token A: HTTP %d; want 401", st)
		}
	})
	t.Run("put-before-registration-is-405", func(t *testing.T) {
		if st, _, _ := e.call(http.MethodPut, base+"/credentials", e.credentials()); st != http.StatusMethodNotAllowed {
			t.Fatalf("PUT credentials with token A: HTTP %d; want 405", st)
		}
	})
	var tokC string
	t.Run("post-credentials", func(t *testing.T) {
		st, env, _ := e.call(http.MethodPost, base+"/credentials", e.credentials())
		if st != 200 || env.StatusCode != 1000 {
			t.Fatalf("POST credentials: HTTP %d %+v", st, env)
		}
		var cr ocpi.Credentials
		_ = json.Unmarshal(env.Data, &cr)
		if cr.Token == "" || cr.Token == tokA || cr.URL != s.URL()+"/ocpi/versions" || len(cr.Roles) != 1 ||
			cr.Roles[0].Role != "CPO" || cr.Roles[0].CountryCode != "NL" || cr.Roles[0].PartyID != "CBR" || cr.Roles[0].BusinessDetails.Name == "" {
			t.Fatalf("credentials answer %s; want a new token C and our CPO role", env.Data)
		}
		tokC = cr.Token
		e.cpoToken = tokC
	})
	t.Run("token-a-is-gone", func(t *testing.T) {
		st, env, _ := callWith(t, ocpi.EncodeToken(tokA), http.MethodGet, s.URL()+"/ocpi/versions", nil)
		if st != http.StatusUnauthorized || env.StatusCode < 2000 {
			t.Fatalf("token A after registration: HTTP %d %+v; want 401 with an OCPI error", st, env)
		}
	})
	t.Run("token-c-opens-modules", func(t *testing.T) {
		if st, env, _ := e.call(http.MethodGet, base+"/locations", nil); st != 200 || env.StatusCode != 1000 {
			t.Fatalf("GET locations with token C: HTTP %d %+v", st, env)
		}
	})
	t.Run("unencoded-token-accepted", func(t *testing.T) {
		if st, _, _ := callWith(t, "Token "+tokC, http.MethodGet, base+"/locations", nil); st != 200 {
			t.Fatalf("un-encoded token C: HTTP %d; want 200", st)
		}
	})
	t.Run("peer-stored", func(t *testing.T) {
		ps, err := s.OCPI().Peers(context.Background())
		if err != nil || len(ps) != 1 {
			t.Fatalf("peers %v %v", ps, err)
		}
		p := ps[0]
		if p.Key != "DE-EMS" || p.Status != ocpi.PeerRegistered || p.TheirToken != e.tokenB || p.EndpointURL("sessions", "RECEIVER") != e.url()+"/emsp/2.2.1/sessions" || !p.HasRole("EMSP") {
			t.Fatalf("stored peer %+v", p)
		}
	})
	t.Run("post-again-is-405", func(t *testing.T) {
		if st, _, _ := e.call(http.MethodPost, base+"/credentials", e.credentials()); st != http.StatusMethodNotAllowed {
			t.Fatalf("second POST: HTTP %d; want 405", st)
		}
	})
	t.Run("get-credentials", func(t *testing.T) {
		_, env, _ := e.call(http.MethodGet, base+"/credentials", nil)
		var cr ocpi.Credentials
		_ = json.Unmarshal(env.Data, &cr)
		if cr.Token != tokC {
			t.Fatalf("GET credentials token %q; want token C", cr.Token)
		}
	})
	t.Run("put-renews-token-c", func(t *testing.T) {
		e.tokenB = "emsp-token-b-renewed"
		st, env, _ := e.call(http.MethodPut, base+"/credentials", e.credentials())
		if st != 200 || env.StatusCode != 1000 {
			t.Fatalf("PUT credentials: HTTP %d %+v", st, env)
		}
		var cr ocpi.Credentials
		_ = json.Unmarshal(env.Data, &cr)
		if cr.Token == "" || cr.Token == tokC {
			t.Fatalf("PUT answered token %q; want a new one", cr.Token)
		}
		if st, _, _ := callWith(t, ocpi.EncodeToken(tokC), http.MethodGet, base+"/locations", nil); st != http.StatusUnauthorized {
			t.Fatalf("old token C after PUT: HTTP %d; want 401", st)
		}
		e.cpoToken = cr.Token
		p, _ := s.OCPI().Peers(context.Background())
		if p[0].TheirToken != "emsp-token-b-renewed" {
			t.Fatalf("their token %q; want the renewed one", p[0].TheirToken)
		}
	})
	t.Run("delete-unregisters", func(t *testing.T) {
		if st, env, _ := e.call(http.MethodDelete, base+"/credentials", nil); st != 200 || env.StatusCode != 1000 {
			t.Fatalf("DELETE credentials: HTTP %d %+v", st, env)
		}
		if st, _, _ := e.call(http.MethodGet, base+"/locations", nil); st != http.StatusUnauthorized {
			t.Fatalf("after DELETE: HTTP %d; want 401", st)
		}
		if st, _, _ := e.call(http.MethodDelete, base+"/credentials", nil); st != http.StatusUnauthorized {
			t.Fatalf("second DELETE: HTTP %d; want 401 (the token is gone)", st)
		}
	})
}

func TestAuthorizationHeader(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	e.register(s)
	u := s.URL() + "/ocpi/2.2.1/locations"
	for _, tt := range []struct {
		name, auth string
		want       int
	}{
		{"missing", "", 401},
		{"wrong-token", ocpi.EncodeToken("nope"), 401},
		{"wrong-scheme", "Bearer " + e.cpoToken, 401},
		{"base64", ocpi.EncodeToken(e.cpoToken), 200},
		{"base64-with-newline", "Token " + base64.StdEncoding.EncodeToString([]byte(e.cpoToken+"\n")), 200},
		{"plain", "Token " + e.cpoToken, 200},
		{"lower-case-scheme", "token " + ocpi.EncodeToken(e.cpoToken)[6:], 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, env, _ := callWith(t, tt.auth, http.MethodGet, u, nil)
			if st != tt.want {
				t.Fatalf("HTTP %d %+v; want %d", st, env, tt.want)
			}
			if st == 401 && env.StatusCode == 0 {
				t.Fatalf("401 without an OCPI envelope")
			}
		})
	}
}

func TestRegisterWithPeer(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	p, err := s.OCPI().Register(context.Background(), e.versionsURL(), e.tokenA)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if p.Key != "DE-EMS" || p.Status != ocpi.PeerRegistered || p.TheirToken != e.tokenB || len(p.Endpoints) != 7 {
		t.Fatalf("peer %+v", p)
	}
	// The eMSP calls us with the token B we sent.
	if st, env, _ := e.call(http.MethodGet, s.URL()+"/ocpi/2.2.1/locations", nil); st != 200 || env.StatusCode != 1000 {
		t.Fatalf("eMSP with our token B: HTTP %d %+v", st, env)
	}
	ps, _ := s.OCPI().Peers(context.Background())
	if len(ps) != 1 {
		t.Fatalf("peers %+v; want just DE-EMS (no provisional record left)", ps)
	}

	t.Run("update-credentials", func(t *testing.T) {
		old := e.cpoToken
		p, err := s.OCPI().UpdateCredentials(context.Background(), "DE-EMS")
		if err != nil {
			t.Fatal(err)
		}
		if p.TheirToken != e.tokenB || e.cpoToken == old {
			t.Fatalf("after update: their token %q (eMSP has %q), our token changed %v", p.TheirToken, e.tokenB, e.cpoToken != old)
		}
		if st, _, _ := callWith(t, ocpi.EncodeToken(old), http.MethodGet, s.URL()+"/ocpi/2.2.1/locations", nil); st != 401 {
			t.Fatalf("old token B: HTTP %d; want 401", st)
		}
		if st, _, _ := e.call(http.MethodGet, s.URL()+"/ocpi/2.2.1/locations", nil); st != 200 {
			t.Fatalf("new token B: HTTP %d; want 200", st)
		}
	})
	t.Run("unregister", func(t *testing.T) {
		if err := s.OCPI().Unregister(context.Background(), "DE-EMS"); err != nil {
			t.Fatal(err)
		}
		if st, _, _ := e.call(http.MethodGet, s.URL()+"/ocpi/2.2.1/locations", nil); st != 401 {
			t.Fatalf("after unregister: HTTP %d; want 401", st)
		}
	})
	t.Run("bad-token-a", func(t *testing.T) {
		if _, err := s.OCPI().Register(context.Background(), e.versionsURL(), "wrong"); err == nil {
			t.Fatal("register with a wrong token A succeeded")
		}
	})
}

func TestRegistrationFailsWhenPeerUnreachable(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	docs, _ := s.Service().Docs()
	tokA, _ := ocpi.AddPeer(context.Background(), docs, "DE", "EMS", time.Now())
	e.cpoToken = tokA
	cr := e.credentials()
	cr.URL = "http://127.0.0.1:1/versions"
	st, env, _ := e.call(http.MethodPost, s.URL()+"/ocpi/2.2.1/credentials", cr)
	if env.StatusCode != 3001 {
		t.Fatalf("POST with unreachable versions: HTTP %d %+v; want status_code 3001", st, env)
	}
	// Token A still works for a second try.
	if st, env, _ := e.call(http.MethodPost, s.URL()+"/ocpi/2.2.1/credentials", e.credentials()); st != 200 || env.StatusCode != 1000 {
		t.Fatalf("retry: HTTP %d %+v", st, env)
	}
}

// TestUnknownTokensBackoff: after five unknown credentials tokens from one
// address, it is answered 429 without a lookup until the wait is over.
func TestUnknownTokensBackoff(t *testing.T) {
	s := startCPO(t)
	u := s.URL() + "/ocpi/2.2.1/locations"
	var codes []int
	for i := range 8 {
		st, _, _ := callWith(t, ocpi.EncodeToken("guess-"+strconv.Itoa(i)), http.MethodGet, u, nil)
		codes = append(codes, st)
	}
	want := []int{401, 401, 401, 401, 401, 401, 429, 429}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("answers %v; want %v", codes, want)
		}
	}
}
