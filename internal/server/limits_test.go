package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/security"
	"github.com/chargebridge/chargebridge/internal/server"
)

// slowClient opens a connection that sends half a request head and then
// nothing, as a slow-loris attacker does.
func slowClient(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "POST /ocpi/versions HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	return c
}

// apiGet fetches path on a fresh connection (no keep-alive) with a
// bounded wait, from the given local address.
func apiGet(t *testing.T, url string, local string) (int, string) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: d.DialContext}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSlowClientsAreHeldOff: slow clients fill the pending connections;
// the oldest idle ones are closed to make room, so the operator API,
// /metrics and a charger still get through at once.
func TestSlowClientsAreHeldOff(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) {
		c.Security.Limits = security.Limits{MaxPending: 16, PerAddr: 1000, Reserve: 4, Evictable: time.Nanosecond}
	}))
	for range 40 {
		slowClient(t, s.Addr)
	}
	if st, body := apiGet(t, s.URL()+"/api/v1/chargers", "127.0.0.1"); st != http.StatusOK {
		t.Fatalf("API while slow clients hold the listener: %d %s", st, body)
	}
	if a := tryDial(t, s.WSURL()+"/CP-SLOW", "", "", nil); a.err != nil || a.status != 0 {
		t.Fatalf("charger while slow clients hold the listener: %+v; want an upgrade", a)
	}
	st, metrics := apiGet(t, s.URL()+"/metrics", "127.0.0.1")
	if st != http.StatusOK || !strings.Contains(metrics, "chargebridge_http_connections_evicted_total") || strings.Contains(metrics, "chargebridge_http_connections_evicted_total 0\n") {
		t.Fatalf("/metrics: %d; want the evictions counted:\n%s", st, grepLines(metrics, "http_connections"))
	}
	// 40 slow clients for 16 pending places: at least 24 were closed.
	var evicted int
	for _, l := range strings.Split(metrics, "\n") {
		if n, ok := strings.CutPrefix(l, "chargebridge_http_connections_evicted_total "); ok {
			evicted, _ = strconv.Atoi(n)
		}
	}
	if evicted < 40-16 {
		t.Fatalf("%d connections evicted; want at least %d", evicted, 40-16)
	}
}

// TestConnectionsPerAddress: one address may hold only so many pending
// connections; the next ones get a fast 503 with Retry-After, and another
// address is not affected.
func TestConnectionsPerAddress(t *testing.T) {
	s := cbtest.Start(t, cbtest.Configure(func(c *server.Config) {
		c.Security.Limits = security.Limits{MaxPending: 1000, PerAddr: 5}
	}))
	for range 5 {
		slowClient(t, s.Addr)
	}
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("6th connection from one address: %v, %v; want 503 with Retry-After", resp, err)
	}
	if st, _ := apiGet(t, s.URL()+"/healthz", "127.0.0.2"); st != http.StatusOK {
		t.Fatalf("another address: %d; want 200", st)
	}
}

// TestOperatorReserve: once chargers hold all but the reserve, a new
// charger gets 503 with Retry-After and the operator API still answers.
func TestOperatorReserve(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) {
		c.Security.Limits = security.Limits{MaxConns: 20, Reserve: 5, MaxPending: 100, PerAddr: 100}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 15 {
		conn, _, _, err := ws.Dialer{Protocols: []string{"ocpp1.6"}}.Dial(ctx, s.WSURL()+"/CP-R"+string(rune('A'+i)))
		if err != nil {
			t.Fatalf("charger %d: %v", i, err)
		}
		defer conn.Close()
	}
	a := tryDial(t, s.WSURL()+"/CP-LATE", "", "", nil)
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("charger past the reserve: %+v; want 503 with Retry-After", a)
	}
	if st, _ := apiGet(t, s.URL()+"/api/v1/chargers", "127.0.0.1"); st != http.StatusOK {
		t.Fatalf("API inside the reserve: %d; want 200", st)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestBadFramesLogSampled: a charger that floods bad frames gets one log
// line (truncated), and /metrics counts every frame.
func TestBadFramesLogSampled(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	c := s.MustDial("CP-BAD")
	big := strings.Repeat("x", 10_000)
	for range 300 {
		c.SendRaw("[2," + big)
	}
	c.MustCall("Heartbeat", map[string]any{}, nil) // answered after every bad frame was handled
	_, metrics := apiGet(t, s.URL()+"/metrics", "127.0.0.1")
	if !strings.Contains(metrics, "chargebridge_ocpp_bad_frames_total 300\n") {
		t.Fatalf("metrics: %s; want 300 bad frames counted", grepLines(metrics, "bad_frames"))
	}
	logs := s.Logs.String()
	if n := strings.Count(logs, "bad OCPP-J frame"); n != 1 {
		t.Fatalf("%d log lines for 300 bad frames; want 1", n)
	}
	if len(logs) > 20_000 {
		t.Fatalf("%d bytes of log; want the frames truncated", len(logs))
	}
}

// TestDataTransferBounded: a DataTransfer over the size cap or past the
// charger's rate is answered Rejected, not stored, and counted.
func TestDataTransferBounded(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) {
		c.Security.Payloads = security.PayloadLimits{MaxBytes: 200, PerMinute: 3}
	}))
	c := s.MustDial("CP-DT")
	send := func(data string) string {
		var conf struct{ Status string }
		c.MustCall("DataTransfer", map[string]any{"vendorId": "com.example", "data": data}, &conf)
		return conf.Status
	}
	if st := send(strings.Repeat("x", 1000)); st != "Rejected" {
		t.Fatalf("oversized DataTransfer: %s; want Rejected", st)
	}
	for i := range 3 {
		if st := send("small"); st != "UnknownVendorId" {
			t.Fatalf("DataTransfer %d within the rate: %s; want it stored (UnknownVendorId)", i, st)
		}
	}
	if st := send("small"); st != "Rejected" {
		t.Fatalf("4th DataTransfer in a minute: %s; want Rejected", st)
	}
	evs, err := s.Service().Store().ListEvents(context.Background(), "CP-DT", 100)
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for _, e := range evs {
		if e.Kind == "DataTransfer" {
			stored++
		}
	}
	if stored != 3 {
		t.Fatalf("%d DataTransfers stored; want 3", stored)
	}
	_, metrics := apiGet(t, s.URL()+"/metrics", "127.0.0.1")
	for _, want := range []string{"chargebridge_datatransfer_dropped_size_total 1\n", "chargebridge_datatransfer_dropped_rate_total 1\n"} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %q:\n%s", want, grepLines(metrics, "datatransfer"))
		}
	}
}

// TestSlowTLSClientsAreHeldOff: connections that never finish the TLS
// handshake are evicted like slow HTTP clients; a TLS operator request
// and a wss:// charger still get through.
func TestSlowTLSClientsAreHeldOff(t *testing.T) {
	pki := cbtest.NewPKI(t)
	s := cbtest.Start(t, cbtest.WithTLS(pki, false), cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) {
		c.Security.Limits = security.Limits{MaxPending: 8, PerAddr: 1000, Reserve: 4, Evictable: time.Nanosecond}
	}))
	// Chargers connected first are WebSockets, not pending: never evicted.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var held []net.Conn
	for i := range 10 {
		conn, _, _, err := ws.Dialer{Protocols: []string{"ocpp1.6"}, TLSConfig: pki.ClientTLS()}.Dial(ctx, s.WSURL()+"/CP-HELD-"+strconv.Itoa(i))
		if err != nil {
			t.Fatalf("charger %d: %v", i, err)
		}
		defer conn.Close()
		held = append(held, conn)
	}
	// The server registers a connection just after the handshake the
	// client has seen completed (an auto-registered charger's record is
	// written first).
	for i := range held {
		id := "CP-HELD-" + strconv.Itoa(i)
		waitFor(t, id+" to be registered", func() bool { return s.OCPP().Connected(id) })
	}
	for range 20 {
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_, _ = c.Write([]byte{0x16, 0x03, 0x01}) // the start of a ClientHello, then nothing
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: pki.ClientTLS()}}
	resp, err := client.Get(s.URL() + "/api/v1/chargers")
	if err != nil {
		t.Fatalf("API over TLS while slow handshakes hold the listener: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API: %d", resp.StatusCode)
	}
	if a := tryDial(t, s.WSURL()+"/CP-TLS", "", "", pki.ClientTLS()); a.err != nil || a.status != 0 {
		t.Fatalf("wss charger: %+v; want an upgrade", a)
	}
	for i, c := range held {
		// A closed connection reads EOF at once; a live one has nothing to say.
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !s.OCPP().Connected("CP-HELD-"+strconv.Itoa(i)) {
			t.Fatalf("charger CP-HELD-%d lost its connection to the eviction of slow clients: %v", i, err)
		}
	}
}
