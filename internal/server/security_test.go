package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/security"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// attempt is one connection attempt's outcome: the HTTP status of a refused
// upgrade (0 when it upgraded) and the headers of the refusal.
type attempt struct {
	status int
	header http.Header
	err    error
}

// tryDial connects as a charger with the given credentials ("" user: no
// Authorization header) and TLS configuration (nil: plain), and closes the
// connection at once when it upgraded.
func tryDial(t *testing.T, url, user, password string, tc *tls.Config) attempt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var a attempt
	d := ws.Dialer{Protocols: []string{"ocpp1.6"}, TLSConfig: tc,
		OnStatusError: func(status int, reason []byte, resp io.Reader) {
			r, err := http.ReadResponse(bufioReader(resp), nil)
			if err == nil {
				a.header = r.Header
			}
		}}
	if user != "" {
		d.Header = ws.HandshakeHeaderHTTP(http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))}})
	}
	conn, _, _, err := d.Dial(ctx, url)
	var se ws.StatusError
	switch {
	case errors.As(err, &se):
		a.status = int(se)
	case err != nil:
		a.err = err
	default:
		conn.Close()
	}
	return a
}

// putSecurity sets a charger's security through the API.
func putSecurity(t *testing.T, s *cbtest.Server, id, body string) (int, security.View) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, s.URL()+"/api/v1/chargers/"+id+"/security", strings.NewReader(body))
	resp, err := s.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v security.View
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &v)
	if resp.StatusCode != http.StatusOK {
		t.Logf("PUT security %s %s: %d %s", id, body, resp.StatusCode, b)
	}
	return resp.StatusCode, v
}

func registerCharger(t *testing.T, s *cbtest.Server, id string) {
	t.Helper()
	if _, err := s.Service().RegisterCharger(context.Background(), charging.Charger{ID: id}); err != nil {
		t.Fatal(err)
	}
}

// startSim runs the real simulator for one charger with the given
// password and TLS configuration.
func startSim(t *testing.T, s *cbtest.Server, id, password string, tc *tls.Config) *sim.Charger {
	t.Helper()
	return startSimSpeaking(t, s, id, password, tc, "1.6")
}

// startSimSpeaking is startSim for a simulator of OCPP version protocol.
func startSimSpeaking(t *testing.T, s *cbtest.Server, id, password string, tc *tls.Config, protocol string) *sim.Charger {
	t.Helper()
	ch, err := sim.NewCharger(sim.Config{
		URL: s.WSURL(), Protocol: protocol, Password: password, TLS: tc, Connectors: 2, NoAutoStart: true, TimeScale: 60,
		MeterInterval: 100 * time.Millisecond, StepTime: time.Minute, RebootTime: 300 * time.Millisecond,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	}, id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ch.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "charger "+id+" to boot", func() bool {
		var c api.Charger
		return s.GetJSON("/api/v1/chargers/"+id, &c) == http.StatusOK && c.Connected && c.BootStatus == charging.BootAccepted
	})
	return ch
}

// TestImpostorCannotDisturbTheRealCharger replays the attack of issue 14:
// a client with a registered charger's id but without its password. The
// real charger (the simulator) keeps its connection and its session, the
// impostor gets 401 before any upgrade, and the operator's next command
// still reaches the real charger.
func TestImpostorCannotDisturbTheRealCharger(t *testing.T) {
	for _, refuseDup := range []bool{false, true} {
		name := "replace-duplicates"
		if refuseDup {
			name = "refuse-duplicates"
		}
		t.Run(name, func(t *testing.T) {
			s := cbtest.Start(t, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true; c.RefuseDuplicates = refuseDup }))
			const id = "CP-REAL"
			registerCharger(t, s, id)
			st, v := putSecurity(t, s, id, `{"security_profile":1}`)
			if st != http.StatusOK || len(v.Password) != security.MaxPasswordLen || v.Profile != 1 {
				t.Fatalf("PUT security = %d %+v; want 200 with a generated 40-character password", st, v)
			}
			if refuseDup {
				// An impostor that comes first must not lock the real charger out.
				if a := tryDial(t, s.WSURL()+"/"+id, id, "not-the-password-at-all", nil); a.status != http.StatusUnauthorized {
					t.Fatalf("impostor first: got %+v; want 401", a)
				}
			}
			startSim(t, s, id, v.Password, nil)
			real, _ := s.OCPP().Conn(id)
			if code, out := command(t, s, id, "RemoteStartTransaction", `{"idTag":"TAG-1","connectorId":1}`); code != http.StatusOK || out["status"] != "Accepted" {
				t.Fatalf("remote start: %d %v", code, out)
			}
			var sess api.Session
			waitFor(t, "the session to charge", func() bool {
				ss := sessionsOf(t, s, id)
				if len(ss) == 1 && ss[0].Status == charging.SessionActive && ss[0].KWh > 0 {
					sess = ss[0]
					return true
				}
				return false
			})

			for _, tc := range []struct {
				name, user, password string
			}{
				{"wrong-password", id, "guessed-password-1234"},
				{"no-credentials", "", ""},
				{"other-user", "CP-OTHER", v.Password[:20] + "x"},
				{"empty-password", id, ""},
			} {
				a := tryDial(t, s.WSURL()+"/"+id, tc.user, tc.password, nil)
				if a.status != http.StatusUnauthorized || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic") {
					t.Fatalf("%s: got %+v; want 401 with WWW-Authenticate: Basic", tc.name, a)
				}
			}
			if now, ok := s.OCPP().Conn(id); !ok || now != real {
				t.Fatalf("the real charger's connection changed after refused attempts (connected %v)", ok)
			}
			// The session is the real one, still charging at the real rate.
			got, err := s.Service().Store().GetSession(context.Background(), sess.ID)
			if err != nil || got.Status != charging.SessionActive || got.KWh() > 200 {
				t.Fatalf("session after the attack: %+v, %v; want still active with plausible energy", got, err)
			}
			if code, out := command(t, s, id, "GetConfiguration", `{"key":["HeartbeatInterval"]}`); code != http.StatusOK {
				t.Fatalf("a command after the attack: %d %v; want it answered by the real charger", code, out)
			}
			var view security.View
			s.GetJSON("/api/v1/chargers/"+id+"/security", &view)
			if view.FailedAttempts < 1 || view.LastAuthAt == nil || view.HasPassword != true {
				t.Fatalf("security view %+v; want failed attempts counted and the last authenticated connection", view)
			}
			var evs struct {
				Items []struct{ Kind string } `json:"items"`
			}
			s.GetJSON("/api/v1/chargers/"+id+"/events", &evs)
			found := false
			for _, e := range evs.Items {
				found = found || e.Kind == security.EventAuthFailure
			}
			if !found {
				t.Fatalf("events %v; want a %s event", evs, security.EventAuthFailure)
			}
			if list := getPage(t, s, "/chargers"); !strings.Contains(list, `id="security-alerts"`) || !strings.Contains(list, "refused connection attempts") {
				t.Fatal("the chargers page shows no security alert for the refused attempts")
			}
			page := getPage(t, s, "/chargers/"+id)
			for _, want := range []string{`id="security"`, "Basic auth", `<span class="error">` + strconv.FormatInt(view.FailedAttempts, 10) + `</span>`, "last authenticated connection"} {
				if !strings.Contains(page, want) {
					t.Fatalf("charger page lacks %q", want)
				}
			}
			if !strings.Contains(s.Logs.String(), "charger connection refused") {
				t.Fatal("no log line for the refused attempts")
			}
		})
	}
}

// TestSecurityProfiles connects at each profile with the right, a wrong and
// no credentials, over real TLS with certificates made in the test.
func TestSecurityProfiles(t *testing.T) {
	pki := cbtest.NewPKI(t)
	s := cbtest.Start(t, cbtest.WithTLS(pki, true), cbtest.AutoRegister)
	secure := "wss://" + s.Addr + "/ocpp/"
	pw := map[int]string{}
	for p := 0; p <= 3; p++ {
		id := "CP-P" + string(rune('0'+p))
		registerCharger(t, s, id)
		st, v := putSecurity(t, s, id, `{"security_profile":`+string(rune('0'+p))+`}`)
		if st != http.StatusOK {
			t.Fatalf("profile %d: PUT = %d", p, st)
		}
		pw[p] = v.Password
	}
	_, _, goodCert := pki.ClientCert(t, "CP-P3")
	_, _, otherCert := pki.ClientCert(t, "CP-P2")
	foreign := cbtest.NewPKI(t)
	_, _, foreignCert := foreign.ClientCert(t, "CP-P3")
	noCert := pki.ClientTLS()
	tests := []struct {
		name       string
		url        string
		user, pass string
		tc         *tls.Config
		want       int // 0: upgraded; -1: TLS handshake fails
	}{
		{"p0-no-credentials", secure + "CP-P0", "", "", noCert, 0},
		{"p1-tls-right", secure + "CP-P1", "CP-P1", pw[1], noCert, 0},
		{"p1-wrong", secure + "CP-P1", "CP-P1", "wrong-wrong-wrong-1", noCert, 401},
		{"p1-missing", secure + "CP-P1", "", "", noCert, 401},
		{"p2-tls-right", secure + "CP-P2", "CP-P2", pw[2], noCert, 0},
		{"p2-tls-wrong", secure + "CP-P2", "CP-P2", pw[1], noCert, 401},
		{"p2-tls-missing", secure + "CP-P2", "", "", noCert, 401},
		{"p3-right-cert", secure + "CP-P3", "", "", pki.ClientTLS(goodCert), 0},
		{"p3-cert-of-another-charger", secure + "CP-P3", "", "", pki.ClientTLS(otherCert), 403},
		{"p3-no-cert", secure + "CP-P3", "", "", noCert, 403},
		{"p3-password-instead", secure + "CP-P3", "CP-P3", pw[2], noCert, 403},
		{"p3-cert-of-a-foreign-ca", secure + "CP-P3", "", "", pki.ClientTLS(foreignCert), 403},
		{"p2-with-a-foreign-cert", secure + "CP-P2", "CP-P2", pw[2], pki.ClientTLS(foreignCert), 0},
		{"untrusted-server", secure + "CP-P1", "CP-P1", pw[1], foreign.ClientTLS(), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tryDial(t, tt.url, tt.user, tt.pass, tt.tc)
			switch {
			case tt.want == -1 && a.err == nil:
				t.Fatalf("got %+v; want the TLS handshake to fail", a)
			case tt.want >= 0 && (a.err != nil || a.status != tt.want):
				t.Fatalf("got status %d, err %v; want %d", a.status, a.err, tt.want)
			}
		})
	}
	var view security.View
	s.GetJSON("/api/v1/chargers/CP-P3/security", &view)
	if view.CertNotAfter == nil || view.CertSerial == "" || view.LastAuthProfile != 3 || view.CertWarning != "expires in 0 days" {
		t.Fatalf("CP-P3 view %+v; want its certificate's expiry (a day: warned) and serial, last auth at profile 3", view)
	}

	if st, metrics := getMetrics(t, s); st != http.StatusOK || !strings.Contains(metrics, "chargebridge_charger_certificates_expiring 1\n") {
		t.Fatalf("/metrics: %d; want 1 expiring certificate (CP-P3's, valid a day)", st)
	}

	// Restarted without TLS, the chargers keep their profiles: profile 2
	// and 3 chargers are refused on the plain listener, never let in at a
	// lower profile.
	s.Stop()
	s = cbtest.StartWithDB(t, s.DBPath, cbtest.AutoRegister)
	for _, tt := range []struct {
		id, user, pass string
		want           int
	}{
		{"CP-P1", "CP-P1", pw[1], 0},
		{"CP-P2", "CP-P2", pw[2], http.StatusForbidden},
		{"CP-P3", "", "", http.StatusForbidden},
	} {
		if a := tryDial(t, s.WSURL()+"/"+tt.id, tt.user, tt.pass, nil); a.err != nil || a.status != tt.want {
			t.Errorf("%s on a plain listener: %+v; want %d", tt.id, a, tt.want)
		}
	}
}

// TestMinimumProfileAndDowngrade: --min-security-profile raises every
// charger's profile, and the API refuses a downgrade without
// allow_downgrade, and profiles the listener cannot enforce.
func TestMinimumProfileAndDowngrade(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.Security.MinProfile = 1 }))
	if a := tryDial(t, s.WSURL()+"/CP-NEW", "", "", nil); a.status != http.StatusUnauthorized {
		t.Fatalf("unknown charger without credentials at min profile 1: %+v; want 401", a)
	}
	registerCharger(t, s, "CP-D")
	if st, _ := putSecurity(t, s, "CP-D", `{"security_profile":2}`); st != http.StatusConflict {
		t.Fatalf("profile 2 without TLS: %d; want 409", st)
	}
	if st, _ := putSecurity(t, s, "CP-D", `{"security_profile":1,"basic_auth_password":"short"}`); st != http.StatusBadRequest {
		t.Fatalf("short password: %d; want 400", st)
	}
	if st, v := putSecurity(t, s, "CP-D", `{"security_profile":1,"basic_auth_password":"0123456789abcdef"}`); st != http.StatusOK || v.Password != "" || !v.HasPassword {
		t.Fatalf("given password: %d %+v; want 200 without echoing it", st, v)
	}
	if st, _ := putSecurity(t, s, "CP-D", `{"security_profile":0}`); st != http.StatusConflict {
		t.Fatalf("downgrade: %d; want 409", st)
	}
	if st, v := putSecurity(t, s, "CP-D", `{"security_profile":0,"allow_downgrade":true}`); st != http.StatusOK || v.EffectiveProfile != 1 {
		t.Fatalf("allowed downgrade: %d %+v; want 200, still effective profile 1 (the server's minimum)", st, v)
	}
	if a := tryDial(t, s.WSURL()+"/CP-D", "CP-D", "0123456789abcdef", nil); a.status != 0 || a.err != nil {
		t.Fatalf("right password: %+v; want upgrade", a)
	}
}

// TestRotationWithoutLockout rotates a connected simulator's password: it
// takes the new AuthorizationKey, reconnects with it, and from then on the
// old password is refused.
// TestRotationWithoutLockout: a rotation reaches a 1.6 charger as
// ChangeConfiguration AuthorizationKey and a 2.0.1 station as SetVariables
// SecurityCtrlr.BasicAuthPassword; each reconnects with the new password,
// and the old one is refused from then on.
func TestRotationWithoutLockout(t *testing.T) {
	for _, protocol := range []string{"1.6", "2.0.1"} {
		t.Run(protocol, func(t *testing.T) { testRotation(t, protocol) })
	}
}

// cmdRecord is a command log entry as the API lists it.
type cmdRecord struct {
	Action, Outcome string
	RequestedBy     string `json:"requested_by"`
}

func testRotation(t *testing.T, protocol string) {
	s := cbtest.Start(t)
	const id = "CP-ROT"
	registerCharger(t, s, id)
	_, v := putSecurity(t, s, id, `{"security_profile":1}`)
	ch := startSimSpeaking(t, s, id, v.Password, nil, protocol)
	resp, err := s.HTTP.Post(s.URL()+"/api/v1/chargers/"+id+"/security/rotate", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rv security.View
	_ = json.NewDecoder(resp.Body).Decode(&rv)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(rv.Password) != security.MaxPasswordLen || rv.Password == v.Password {
		t.Fatalf("rotate: %d %+v; want a new password", resp.StatusCode, rv)
	}
	waitFor(t, "the simulator to reconnect with the new password", func() bool {
		var view security.View
		s.GetJSON("/api/v1/chargers/"+id+"/security", &view)
		return ch.Password() == rv.Password && !view.RotationPending && s.OCPP().Connected(id)
	})
	if a := tryDial(t, s.WSURL()+"/"+id, id, v.Password, nil); a.status != http.StatusUnauthorized {
		t.Fatalf("old password after the rotation: %+v; want 401", a)
	}
	if a := tryDial(t, s.WSURL()+"/"+id, id, rv.Password, nil); a.status != 0 || a.err != nil {
		t.Fatalf("new password: %+v; want upgrade", a)
	}
	want := map[string]string{"1.6": "ChangeConfiguration", "2.0.1": "SetVariables"}[protocol]
	var hist struct {
		Items []cmdRecord
	}
	s.GetJSON("/api/v1/chargers/"+id+"/commands", &hist)
	if !slices.ContainsFunc(hist.Items, func(c cmdRecord) bool {
		return c.Action == want && c.Outcome == "answered" && c.RequestedBy == "security rotation"
	}) {
		t.Errorf("command log %+v; want the rotation as %s, answered", hist.Items, want)
	}
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// TestCSRSigningWithTheSimulator: the built-in CA signs the simulator's
// CSR (SignCertificate → CertificateSigned), the simulator installs the
// certificate, and after moving to profile 3 it reconnects with it.
func TestCSRSigningWithTheSimulator(t *testing.T) {
	pki := cbtest.NewPKI(t)
	s := cbtest.Start(t, cbtest.WithTLS(pki, false), cbtest.Configure(func(c *server.Config) {
		c.Security.CACert, c.Security.CAKey = pki.CAFile, pki.CAKeyFile
	}))
	const id = "CP-CSR"
	registerCharger(t, s, id)
	_, v := putSecurity(t, s, id, `{"security_profile":2}`)
	ch := startSim(t, s, id, v.Password, pki.ClientTLS())
	if code, out := command(t, s, id, "ExtendedTriggerMessage", `{"requestedMessage":"SignChargePointCertificate"}`); code != http.StatusOK || out["status"] != "Accepted" {
		t.Fatalf("trigger: %d %v", code, out)
	}
	waitFor(t, "the simulator to install a certificate signed by the CA, and its expiry in the API", func() bool {
		c := ch.Certificate()
		if c == nil || c.Subject.CommonName != id || c.CheckSignatureFrom(pki.CA.Cert) != nil {
			return false
		}
		var view security.View
		s.GetJSON("/api/v1/chargers/"+id+"/security", &view)
		return view.CertNotAfter != nil && view.CertSerial == c.SerialNumber.Text(16) && view.CertWarning == ""
	})
	if st, _ := putSecurity(t, s, id, `{"security_profile":3}`); st != http.StatusOK {
		t.Fatalf("profile 3: %d", st)
	}
	if code, out := command(t, s, id, "Reset", `{"type":"Soft"}`); code != http.StatusOK || out["status"] != "Accepted" {
		t.Fatalf("reset: %d %v", code, out)
	}
	waitFor(t, "the simulator to reconnect at profile 3", func() bool {
		var v security.View
		s.GetJSON("/api/v1/chargers/"+id+"/security", &v)
		return v.LastAuthProfile == 3 && s.OCPP().Connected(id)
	})
}

func getPage(t *testing.T, s *cbtest.Server, path string) string {
	t.Helper()
	resp, err := s.HTTP.Get(s.URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return string(b)
}

// TestAddressBackoffSparesKnownChargers: an address that fails for many
// ids is answered 429, but a charger that last authenticated from it
// still gets in (chargers behind one NAT).
func TestAddressBackoffSparesKnownChargers(t *testing.T) {
	s := cbtest.Start(t, cbtest.Configure(func(c *server.Config) { c.Security.MinProfile = 1 }))
	registerCharger(t, s, "CP-NAT")
	_, v := putSecurity(t, s, "CP-NAT", `{"security_profile":1}`)
	if a := tryDial(t, s.WSURL()+"/CP-NAT", "CP-NAT", v.Password, nil); a.err != nil || a.status != 0 {
		t.Fatalf("first connection: %+v", a)
	}
	for i := range 40 {
		id := "CP-GUESS-" + strconv.Itoa(i)
		tryDial(t, s.WSURL()+"/"+id, id, "guessed-password-0000", nil)
	}
	if a := tryDial(t, s.WSURL()+"/CP-GUESS-99", "CP-GUESS-99", "guessed-password-0000", nil); a.status != http.StatusTooManyRequests {
		t.Fatalf("another guess from the address: %+v; want 429", a)
	}
	if a := tryDial(t, s.WSURL()+"/CP-NAT", "CP-NAT", v.Password, nil); a.err != nil || a.status != 0 {
		t.Fatalf("the charger that authenticated from this address before: %+v; want an upgrade", a)
	}
}

func getMetrics(t *testing.T, s *cbtest.Server) (int, string) {
	t.Helper()
	resp, err := s.HTTP.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMovingUp: a charger at profile 0 whose password is stored already
// sends it; the view says it could pass profile 1, so raising it is safe.
func TestMovingUp(t *testing.T) {
	s := cbtest.Start(t)
	registerCharger(t, s, "CP-UP")
	_, up := putSecurity(t, s, "CP-UP", `{"security_profile":0,"generate":true}`)
	if a := tryDial(t, s.WSURL()+"/CP-UP", "CP-UP", up.Password, nil); a.status != 0 || a.err != nil {
		t.Fatalf("profile 0 charger with its password: %+v", a)
	}
	var upView security.View
	s.GetJSON("/api/v1/chargers/CP-UP/security", &upView)
	if upView.Profile != 0 || upView.LastAuthProfile != 1 {
		t.Fatalf("view %+v; want profile 0, last authenticated at profile 1", upView)
	}
	if a := tryDial(t, s.WSURL()+"/CP-UP", "CP-UP", "wrong-password-00000", nil); a.status != 0 || a.err != nil {
		t.Fatalf("profile 0 with a wrong password: %+v; want let in (profile 0 asks nothing)", a)
	}
}
