package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// schemaDir holds the official OCPP 1.6 JSON schemas, relative to this
// package.
const schemaDir = "../../../shared/specs/ocpp16"

// schemas validates payloads against the official OCPP 1.6 schemas.
type schemas struct {
	mu   sync.Mutex
	byID map[string]*jsonschema.Schema
	c    *jsonschema.Compiler
	dir  string
}

// loadSchemas returns the schema set, or nil when the schema folder is absent.
func loadSchemas(t testing.TB) *schemas {
	t.Helper()
	dir, err := filepath.Abs(schemaDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "BootNotification.json")); err != nil {
		return nil
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	return &schemas{byID: map[string]*jsonschema.Schema{}, c: c, dir: dir}
}

// validate checks payload against <name>.json; it returns nil when the
// schema set is absent.
func (s *schemas) validate(name string, payload []byte) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	sch, ok := s.byID[name]
	if !ok {
		path := filepath.Join(s.dir, name+".json")
		if _, err := os.Stat(path); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("no schema %s.json", name)
		}
		var err error
		sch, err = s.c.Compile(path)
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("compile %s: %w", name, err)
		}
		s.byID[name] = sch
	}
	s.mu.Unlock()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%s: not JSON: %w", name, err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	return nil
}

// gotCall is a CALL the test central system received.
type gotCall struct {
	Action  string
	Payload json.RawMessage
	At      time.Time
}

func (g gotCall) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(g.Payload, v); err != nil {
		t.Fatalf("decode %s %s: %v", g.Action, g.Payload, err)
	}
}

// testCSMS is a small OCPP 1.6J central system for the tests: a real
// WebSocket server on 127.0.0.1:0 that answers the charge point's calls,
// records them, validates every payload it gets against the official schemas
// and can send commands.
type testCSMS struct {
	t       testing.TB
	URL     string
	schemas *schemas
	ln      net.Listener
	srv     *http.Server
	wg      sync.WaitGroup

	mu          sync.Mutex
	conns       map[string]*csConn
	calls       map[string][]gotCall
	remoteAddrs map[string]string
	bad         []string // bad frames received
	violations  []string
	txByKey     map[string]int
	nextTx      int
	refuse      bool
	noDedupe    bool // give every StartTransaction a new id
	pending     map[string]int
	hbInterval  int
	answered    map[string]int // charger/action → CALLRESULTs written
}

type csConn struct {
	id      string
	nc      net.Conn
	wmu     sync.Mutex
	mu      sync.Mutex
	waiting map[string]chan ocpp.Frame
	actions map[string]string
	nextID  int
}

func (cc *csConn) Write(p []byte) (int, error) {
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	return cc.nc.Write(p)
}

func (cc *csConn) send(frame []byte) error {
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	cc.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return wsutil.WriteServerText(cc.nc, frame)
}

// startCSMS starts a test central system; it stops with the test.
func startCSMS(t testing.TB) *testCSMS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testCSMS{
		t:           t,
		URL:         "ws://" + ln.Addr().String() + "/ocpp",
		schemas:     loadSchemas(t),
		ln:          ln,
		conns:       map[string]*csConn{},
		calls:       map[string][]gotCall{},
		remoteAddrs: map[string]string{},
		txByKey:     map[string]int{},
		answered:    map[string]int{},
		nextTx:      1000,
		pending:     map[string]int{},
		hbInterval:  3600,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ocpp/{id}", s.serveWS)
	s.srv = &http.Server{Handler: mux}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.srv.Serve(ln)
	}()
	t.Cleanup(s.close)
	return s
}

func (s *testCSMS) close() {
	s.srv.Close()
	s.mu.Lock()
	for _, cc := range s.conns {
		cc.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *testCSMS) serveWS(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	refuse := s.refuse
	s.mu.Unlock()
	if refuse {
		http.Error(w, "offline", http.StatusServiceUnavailable)
		return
	}
	u := ws.HTTPUpgrader{Protocol: func(p string) bool { return p == Subprotocol }}
	nc, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		return
	}
	cc := &csConn{id: id, nc: nc, waiting: map[string]chan ocpp.Frame{}, actions: map[string]string{}}
	s.mu.Lock()
	if old := s.conns[id]; old != nil {
		old.nc.Close()
	}
	s.conns[id] = cc
	s.remoteAddrs[id] = nc.RemoteAddr().String()
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.readLoop(cc, rw.Reader)
	}()
}

func (s *testCSMS) readLoop(cc *csConn, r *bufio.Reader) {
	defer func() {
		cc.nc.Close()
		s.mu.Lock()
		if s.conns[cc.id] == cc {
			delete(s.conns, cc.id)
		}
		s.mu.Unlock()
	}()
	rw := struct {
		io.Reader
		io.Writer
	}{r, cc}
	for {
		data, _, err := wsutil.ReadClientData(rw)
		if err != nil {
			return
		}
		s.handle(cc, data)
	}
}

func (s *testCSMS) violation(format string, args ...any) {
	s.mu.Lock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *testCSMS) handle(cc *csConn, data []byte) {
	f, err := ocpp.ParseFrame(data)
	if err != nil {
		s.mu.Lock()
		s.bad = append(s.bad, string(data))
		s.mu.Unlock()
		var fe *ocpp.FrameError
		if errors.As(err, &fe) && fe.ID != "" {
			cc.send(ocpp.AppendCallError(nil, fe.ID, &ocpp.Error{Code: fe.Code, Description: fe.Reason}))
		}
		return
	}
	switch f.Type {
	case ocpp.CallResult, ocpp.CallError:
		cc.mu.Lock()
		ch := cc.waiting[f.ID]
		action := cc.actions[f.ID]
		delete(cc.waiting, f.ID)
		cc.mu.Unlock()
		if f.Type == ocpp.CallResult {
			if err := s.schemas.validate(action+"Response", f.Payload); err != nil {
				s.violation("%s answer: %v", cc.id, err)
			}
		}
		if ch != nil {
			ch <- f
		}
		return
	}
	if err := s.schemas.validate(f.Action, f.Payload); err != nil {
		s.violation("%s sent %v: %s", cc.id, err, f.Payload)
	}
	s.mu.Lock()
	s.calls[cc.id] = append(s.calls[cc.id], gotCall{f.Action, f.Payload, time.Now()})
	s.mu.Unlock()
	resp, rpcErr := s.answer(cc.id, f)
	if rpcErr != nil {
		cc.send(ocpp.AppendCallError(nil, f.ID, rpcErr))
		return
	}
	cc.send(ocpp.AppendCallResult(nil, f.ID, resp))
	s.mu.Lock()
	s.answered[cc.id+"/"+f.Action]++
	s.mu.Unlock()
}

// answeredCount is how many calls of an action from a charger were
// answered with a CALLRESULT (written to the connection).
func (s *testCSMS) answeredCount(id, action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answered[id+"/"+action]
}

// answer is the central system's side of each charge point call.
func (s *testCSMS) answer(id string, f ocpp.Frame) ([]byte, *ocpp.Error) {
	now := time.Now().UTC().Format(time.RFC3339)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch f.Action {
	case "BootNotification":
		if s.pending[id] > 0 {
			s.pending[id]--
			return marshal(bootNotificationConf{Status: "Pending", CurrentTime: now, Interval: 1}), nil
		}
		return marshal(bootNotificationConf{Status: "Accepted", CurrentTime: now, Interval: s.hbInterval}), nil
	case "Heartbeat":
		return marshal(heartbeatConf{CurrentTime: now}), nil
	case "Authorize":
		var r authorizeReq
		json.Unmarshal(f.Payload, &r)
		st := "Accepted"
		if strings.HasPrefix(r.IDTag, "BLOCKED") {
			st = "Blocked"
		}
		return marshal(authorizeConf{IDTagInfo: idTagInfo{Status: st}}), nil
	case "StartTransaction":
		var r startTransactionReq
		json.Unmarshal(f.Payload, &r)
		key := fmt.Sprintf("%s|%d|%s|%s|%d", id, r.ConnectorID, r.IDTag, r.Timestamp, r.MeterStart)
		tx, ok := s.txByKey[key]
		if !ok || s.noDedupe {
			s.nextTx++
			tx = s.nextTx
			s.txByKey[key] = tx
		}
		st := "Accepted"
		if strings.HasPrefix(r.IDTag, "BLOCKED") {
			st = "Invalid"
		}
		return marshal(startTransactionConf{IDTagInfo: idTagInfo{Status: st}, TransactionID: &tx}), nil
	case "StopTransaction":
		return marshal(authorizeConf{IDTagInfo: idTagInfo{Status: "Accepted"}}), nil
	case "SignCertificate":
		return marshal(statusOnly{"Accepted"}), nil
	case "DataTransfer":
		return marshal(statusOnly{"UnknownVendorId"}), nil
	case "MeterValues", "StatusNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
		"LogStatusNotification", "SecurityEventNotification", "SignedFirmwareStatusNotification":
		return []byte("{}"), nil
	}
	return nil, ocpp.Errorf(ocpp.NotImplemented, "%s", f.Action)
}

// txOf returns the transaction id the central system gave a StartTransaction.
func (s *testCSMS) txOf(id string, r startTransactionReq) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.txByKey[fmt.Sprintf("%s|%d|%s|%s|%d", id, r.ConnectorID, r.IDTag, r.Timestamp, r.MeterStart)]
}

// call sends a command to a connected charger and waits for its answer.
func (s *testCSMS) call(t testing.TB, id, action string, payload any) ocpp.Frame {
	t.Helper()
	return s.send(t, id, action, payload, true)
}

// callInvalid sends a command the schema would reject, to see the answer.
func (s *testCSMS) callInvalid(t testing.TB, id, action string, payload any) ocpp.Frame {
	t.Helper()
	return s.send(t, id, action, payload, false)
}

func (s *testCSMS) send(t testing.TB, id, action string, payload any, check bool) ocpp.Frame {
	t.Helper()
	var cc *csConn
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		cc = s.conns[id]
		s.mu.Unlock()
		if cc != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: charger %s is not connected", action, id)
		}
		time.Sleep(5 * time.Millisecond)
	}
	p := marshal(payload)
	if err := s.schemas.validate(action, p); check && err != nil {
		t.Fatalf("the test sends an invalid %s: %v", action, err)
	}
	ch := make(chan ocpp.Frame, 1)
	cc.mu.Lock()
	cc.nextID++
	msgID := fmt.Sprintf("cs-%d", cc.nextID)
	cc.waiting[msgID] = ch
	cc.actions[msgID] = action
	cc.mu.Unlock()
	if err := cc.send(ocpp.AppendCall(nil, msgID, action, p)); err != nil {
		t.Fatalf("send %s: %v", action, err)
	}
	select {
	case f := <-ch:
		return f
	case <-time.After(5 * time.Second):
		t.Fatalf("%s to %s: no answer", action, id)
	}
	return ocpp.Frame{}
}

// status sends a command and returns the status field of the answer.
func (s *testCSMS) status(t testing.TB, id, action string, payload any) string {
	t.Helper()
	f := s.call(t, id, action, payload)
	if f.Type != ocpp.CallResult {
		t.Fatalf("%s: got CALLERROR %s %s; want a CALLRESULT", action, f.ErrorCode, f.ErrorDescription)
	}
	var r statusOnly
	json.Unmarshal(f.Payload, &r)
	return r.Status
}

// kick closes the charger's connection from the server side.
func (s *testCSMS) kick(id string) {
	s.mu.Lock()
	if cc := s.conns[id]; cc != nil {
		cc.nc.Close()
	}
	s.mu.Unlock()
}

func (s *testCSMS) setRefuse(v bool) {
	s.mu.Lock()
	s.refuse = v
	s.mu.Unlock()
}

func (s *testCSMS) connected(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[id] != nil
}

// got returns the calls received from a charger so far.
func (s *testCSMS) got(id string) []gotCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gotCall(nil), s.calls[id]...)
}

// gotAction returns the calls of one action received from a charger.
func (s *testCSMS) gotAction(id, action string) []gotCall {
	var out []gotCall
	for _, g := range s.got(id) {
		if g.Action == action {
			out = append(out, g)
		}
	}
	return out
}

// waitFor polls until cond holds, failing the test after a generous timeout.
func (s *testCSMS) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkValid fails the test if any payload broke the schemas.
func (s *testCSMS) checkValid(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.violations {
		t.Errorf("schema violation: %s", v)
	}
	for _, b := range s.bad {
		t.Errorf("bad frame: %s", b)
	}
}

// runCharger runs a charger against the test central system until the test
// ends, and checks that it leaves no goroutine behind.
func runCharger(t *testing.T, cfg Config, id string) *Charger {
	t.Helper()
	c, err := NewCharger(cfg, id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: got %v; want nil", err)
		}
		checkNoLeaks(t)
	})
	return c
}
