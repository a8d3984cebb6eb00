package ocpprpc

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/security"
)

// authResult is what auth.js prints.
type authResult struct {
	Connected bool
	Boot      string
	Error     string
}

func runAuth(t *testing.T, args ...string) authResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", append([]string{"auth.js"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("node auth.js %v: %v\n%s", args, err, out)
	}
	line := strings.TrimSpace(string(out))
	if i := strings.LastIndex(line, "\n"); i >= 0 {
		line = line[i+1:]
	}
	var r authResult
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("auth.js printed %q: %v", out, err)
	}
	return r
}

// setProfile registers a charger at a profile and returns its generated
// password (profiles 1 and 2).
func setProfile(t *testing.T, s *cbtest.Server, id string, profile int) string {
	t.Helper()
	if _, err := s.Service().RegisterCharger(context.Background(), charging.Charger{ID: id}); err != nil {
		t.Fatal(err)
	}
	v, err := s.Guard().Set(context.Background(), id, security.Change{Profile: profile}, security.Capabilities{TLS: s.PKI != nil, ClientCA: s.PKI != nil})
	if err != nil {
		t.Fatal(err)
	}
	return v.Password
}

// TestOcppRpcSecurityProfiles: the third-party client ocpp-rpc, with its
// own Basic-auth and TLS options, connects at security profiles 1, 2 and 3
// with the right credentials and is refused without them.
func TestOcppRpcSecurityProfiles(t *testing.T) {
	nodeModules(t)
	t.Run("profile-1", func(t *testing.T) {
		s := cbtest.Start(t)
		pw := setProfile(t, s, "RPC-P1", 1)
		url := "ws://" + s.Addr + "/ocpp"
		if r := runAuth(t, url, "RPC-P1", "--password", pw); !r.Connected || r.Boot != "Accepted" {
			t.Fatalf("right password: %+v; want connected and booted", r)
		}
		if r := runAuth(t, url, "RPC-P1", "--password", "wrong-password-0123"); !refused(r, 401) {
			t.Fatalf("wrong password: %+v; want refused with 401", r)
		}
		if r := runAuth(t, url, "RPC-P1"); !refused(r, 401) {
			t.Fatalf("no password: %+v; want refused with 401", r)
		}
	})
	t.Run("profiles-2-and-3", func(t *testing.T) {
		pki := cbtest.NewPKI(t)
		s := cbtest.Start(t, cbtest.WithTLS(pki, true))
		pw := setProfile(t, s, "RPC-P2", 2)
		setProfile(t, s, "RPC-P3", 3)
		cert, key, _ := pki.ClientCert(t, "RPC-P3")
		otherCert, otherKey, _ := pki.ClientCert(t, "RPC-OTHER")
		url := "wss://" + s.Addr + "/ocpp"
		if r := runAuth(t, url, "RPC-P2", "--password", pw, "--ca", pki.CAFile); !r.Connected || r.Boot != "Accepted" {
			t.Fatalf("profile 2, right password: %+v; want connected", r)
		}
		if r := runAuth(t, url, "RPC-P2", "--ca", pki.CAFile); !refused(r, 401) {
			t.Fatalf("profile 2, no password: %+v; want 401", r)
		}
		if r := runAuth(t, url, "RPC-P3", "--ca", pki.CAFile, "--cert", cert, "--key", key); !r.Connected || r.Boot != "Accepted" {
			t.Fatalf("profile 3, right certificate: %+v; want connected", r)
		}
		if r := runAuth(t, url, "RPC-P3", "--ca", pki.CAFile); !refused(r, 403) {
			t.Fatalf("profile 3, no certificate: %+v; want 403", r)
		}
		if r := runAuth(t, url, "RPC-P3", "--ca", pki.CAFile, "--cert", otherCert, "--key", otherKey); !refused(r, 403) {
			t.Fatalf("profile 3, another charger's certificate: %+v; want 403", r)
		}
		var v security.View
		if st := s.GetJSON("/api/v1/chargers/RPC-P3/security", &v); st != http.StatusOK || v.LastAuthProfile != 3 || v.FailedAttempts == 0 {
			t.Fatalf("RPC-P3 view: %d %+v; want last auth at profile 3 and the failures counted", st, v)
		}
	})
}

// refused reports whether ocpp-rpc was refused with the HTTP status code
// (it reports the status text, e.g. "Unauthorized").
func refused(r authResult, code int) bool {
	return !r.Connected && (strings.Contains(r.Error, strconv.Itoa(code)) || strings.Contains(r.Error, http.StatusText(code)))
}
