// Package cbtest starts a real chargebridge inside a test: a server on
// 127.0.0.1:0 with a SQLite file in the test's temporary directory, and a
// small raw OCPP-J client to talk to it.
package cbtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/server"
)

// Server is a running test server.
type Server struct {
	*server.Server
	Addr   string
	DBPath string
	Config server.Config
	Logs   *LogBuffer
	// PKI is the test's certificates when the server serves TLS.
	PKI *PKI
	// HTTP is a client for the server (trusting PKI's CA).
	HTTP   *http.Client
	t      testing.TB
	closed bool
}

// Setup is what a test may change before the server starts.
type Setup struct {
	Config  server.Config
	Options server.Options
	pki     *PKI
}

// Option adjusts the setup before the server starts.
type Option func(*Setup)

// Configure returns an Option that edits the configuration.
func Configure(f func(*server.Config)) Option { return func(s *Setup) { f(&s.Config) } }

// WithClock runs the server on clock.
func WithClock(c charging.Clock) Option { return func(s *Setup) { s.Options.Clock = c } }

// AutoRegister turns auto-registration on.
func AutoRegister(s *Setup) { s.Config.AutoRegister = true }

// Start runs a server until the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return StartWithDB(t, filepath.Join(t.TempDir(), "chargebridge.db"), opts...)
}

// StartWithDB runs a server on the SQLite file at path (to restart one on
// the same database).
func StartWithDB(t testing.TB, path string, opts ...Option) *Server {
	t.Helper()
	cfg := server.Config{
		HTTP:              "127.0.0.1:0",
		DB:                "sqlite:" + path,
		HeartbeatInterval: 5 * time.Minute,
		PingInterval:      30 * time.Second,
		CallTimeout:       5 * time.Second,
		LogLevel:          "info",
		LogFormat:         "text",
	}
	setup := Setup{Config: cfg}
	for _, o := range opts {
		o(&setup)
	}
	cfg = setup.Config
	logs := &LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(context.Background(), cfg, log, setup.Options)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	addr, err := srv.Start()
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	s := &Server{Server: srv, Addr: addr.String(), DBPath: path, Config: cfg, Logs: logs, PKI: setup.pki, HTTP: httpClient(setup.pki), t: t}
	t.Cleanup(s.Stop)
	return s
}

// Stop shuts the server down (once).
func (s *Server) Stop() {
	if s.closed {
		return
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		s.t.Errorf("shutdown: %v", err)
	}
}

// URL returns the server's base URL.
func (s *Server) URL() string {
	if s.PKI != nil {
		return "https://" + s.Addr
	}
	return "http://" + s.Addr
}

// WSURL returns the chargers' base URL (ws:// or wss://…/ocpp).
func (s *Server) WSURL() string {
	if s.PKI != nil {
		return "wss://" + s.Addr + "/ocpp"
	}
	return "ws://" + s.Addr + "/ocpp"
}

// GetJSON fetches path and decodes its JSON body into v, returning the status.
func (s *Server) GetJSON(path string, v any) int {
	s.t.Helper()
	resp, err := s.HTTP.Get(s.URL() + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			s.t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

// PostJSON posts body to path and decodes the answer into v.
func (s *Server) PostJSON(path string, body any, v any) int {
	s.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := s.HTTP.Post(s.URL()+path, "application/json", strings.NewReader(string(b)))
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	if v != nil {
		_ = json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

// Do sends a request with a JSON body (none when body is nil) and decodes
// the answer into v (when not nil), returning the status.
func (s *Server) Do(method, path string, body any, v any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if v != nil {
		_ = json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

// LogBuffer collects log output safely.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Client is a raw OCPP-J client for tests: it sends exactly the frames a
// test writes and returns exactly what the server answers.
type Client struct {
	t    testing.TB
	conn net.Conn
	n    int
	// Proto is the subprotocol the server chose.
	Proto string
}

// Dial connects a charger with the given id using subprotocol ocpp1.6.
func (s *Server) Dial(id string) (*Client, error) {
	return DialURL(s.t, "ws://"+s.Addr+"/ocpp/"+id, "ocpp1.6")
}

// MustDial is Dial that fails the test on error.
func (s *Server) MustDial(id string) *Client {
	s.t.Helper()
	c, err := s.Dial(id)
	if err != nil {
		s.t.Fatalf("dial %s: %v", id, err)
	}
	return c
}

// DialURL connects to url offering the given subprotocols.
func DialURL(t testing.TB, url string, protocols ...string) (*Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := ws.Dialer{Protocols: protocols}
	conn, _, hs, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	c := &Client{t: t, conn: conn, Proto: hs.Protocol}
	t.Cleanup(func() { conn.Close() })
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() { c.conn.Close() }

// SendRaw writes one text frame.
func (c *Client) SendRaw(msg string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(msg)); err != nil {
		c.t.Fatalf("send %s: %v", msg, err)
	}
}

// Read reads the next text message, answering pings on the way.
func (c *Client) Read(timeout time.Duration) ([]byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		msgs, err := wsutil.ReadServerMessage(c.conn, nil)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			switch m.OpCode {
			case ws.OpText:
				return m.Payload, nil
			case ws.OpClose:
				// The server's close code and reason, as a wsutil.ClosedError.
				code, reason := ws.ParseCloseFrameData(m.Payload)
				return nil, wsutil.ClosedError{Code: code, Reason: reason}
			}
		}
	}
}

// MustRead reads the next message or fails the test.
func (c *Client) MustRead() []byte {
	c.t.Helper()
	b, err := c.Read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return b
}

// Call sends a CALL and returns the raw answer frame.
func (c *Client) Call(action string, payload any) []byte {
	c.t.Helper()
	c.n++
	b, err := json.Marshal(payload)
	if err != nil {
		c.t.Fatal(err)
	}
	c.SendRaw(fmt.Sprintf(`[2,"t%d",%q,%s]`, c.n, action, b))
	return c.MustRead()
}

// TryCall sends a CALL and returns the answer frame, or the error that
// kept it from coming (the connection failed or closed).
func (c *Client) TryCall(action string, payload any) ([]byte, error) {
	c.n++
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	if err := wsutil.WriteClientText(c.conn, []byte(fmt.Sprintf(`[2,"t%d",%q,%s]`, c.n, action, b))); err != nil {
		return nil, err
	}
	return c.Read(5 * time.Second)
}

// MustCall sends a CALL, requires a CALLRESULT and decodes its payload into v.
func (c *Client) MustCall(action string, payload any, v any) {
	c.t.Helper()
	res := c.Call(action, payload)
	var frame []json.RawMessage
	if err := json.Unmarshal(res, &frame); err != nil || len(frame) != 3 || string(frame[0]) != "3" {
		c.t.Fatalf("%s: got %s; want a CALLRESULT", action, res)
	}
	if v != nil {
		if err := json.Unmarshal(frame[2], v); err != nil {
			c.t.Fatalf("%s: decode %s: %v", action, frame[2], err)
		}
	}
}

// ErrorCode returns the code of a CALLERROR frame, or "" for anything else.
func ErrorCode(frame []byte) string {
	var f []json.RawMessage
	if json.Unmarshal(frame, &f) != nil || len(f) != 5 || string(f[0]) != "4" {
		return ""
	}
	var code string
	_ = json.Unmarshal(f[2], &code)
	return code
}

// Runner is what Run runs: a simulated charger or fleet (sim.Charger,
// sim.Fleet).
type Runner interface {
	Run(ctx context.Context) error
}

// Run runs r until the test ends (or the returned stop is called), then
// waits for it to return.
func Run(t testing.TB, r Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}
