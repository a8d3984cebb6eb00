// Package extgen is an OCPP 1.6J load generator that shares no code with
// chargebridge's OCPP stack (internal/ocpp) or its simulator (internal/sim):
// `chargebridge bench --generator external` drives the server with it, so
// that a figure cannot come from the server and its load generator agreeing
// by construction (the same framing, the same WebSocket library, the same
// reading of the schemas). It writes its own OCPP-J frames (BootNotification,
// StartTransaction, MeterValues with three sampled values, Heartbeat),
// parses the CALLRESULT and CALLERROR answers itself with encoding/json,
// and counts acknowledged calls, error answers, refusals, timeouts and
// unreadable frames.
//
// The WebSocket library is github.com/gorilla/websocket, the one issue 16's
// independent measurements used, and not the server's gobwas/ws: a framing
// or handshake bug shared by both sides would go unseen.
package extgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Mode is the load shape of every charger of a Generator.
type Mode string

const (
	// Idle chargers boot and send a Heartbeat at the interval the
	// BootNotification answer gives.
	Idle Mode = "idle"
	// Saturation chargers boot, start one transaction and send MeterValues
	// back to back: one call outstanding per charger.
	Saturation Mode = "saturation"
	// Paced chargers boot, start one transaction and send one MeterValues
	// per Config.Interval.
	Paced Mode = "paced"
)

// Config sets up a Generator.
type Config struct {
	// URL is the OCPP base URL (ws://host:port/ocpp); each charger's id is
	// appended as the last path element.
	URL string
	// Chargers is the fleet size; IDPrefix starts every charger id
	// (IDPrefix followed by a five-digit number from 00001).
	Chargers int
	IDPrefix string
	Mode     Mode
	// Interval is a Paced charger's MeterValues interval.
	Interval time.Duration
	// LocalAddr, when set, is the source address every connection dials
	// from (127.0.0.x spreads a large fleet over several address ranges).
	LocalAddr string
	// CallTimeout is how long a call waits for its answer (60 s when
	// zero); a call that times out closes its connection, which then
	// reconnects.
	CallTimeout time.Duration
	// MaxDialing bounds the connections being opened at once (128 when
	// zero).
	MaxDialing int
	// Record, when set, is given the time from writing each CALL to
	// reading its answer (CALLRESULT or CALLERROR). It is called from
	// many goroutines at once.
	Record func(time.Duration)
	// HeartbeatInterval replaces the interval of the BootNotification
	// answer when above zero.
	HeartbeatInterval time.Duration
	// MeterValuesAcknowledged, when set, is told of every MeterValues
	// answered with a CALLRESULT: the charger, its transaction and the
	// energy register it reported (each charger's register starts at 0 Wh
	// in each transaction and grows by 7 Wh per MeterValues). A kill test
	// checks these against what the server stored. It is called from many
	// goroutines at once.
	MeterValuesAcknowledged func(charger string, tx, energyWh int64)
}

// Stats are the counters of a Generator since it started.
type Stats struct {
	// Connected is the chargers ready now: connected, booted and, unless
	// idle, inside their transaction.
	Connected int64
	// DialErrors counts failed connection attempts (including a server
	// that does not agree to the ocpp1.6 subprotocol); Disconnects counts
	// connections lost after they were open.
	DialErrors  int64
	Disconnects int64
	// Calls counts CALLs written; Acknowledged the CALLRESULTs read
	// (MeterValues the MeterValues among them, Transactions the accepted
	// StartTransactions).
	Calls        int64
	Acknowledged int64
	MeterValues  int64
	Transactions int64
	// CallErrors counts CALLERROR answers; Refused the CALLRESULTs that
	// refuse (a BootNotification not Accepted, a StartTransaction whose
	// idTagInfo is not Accepted or that has no transactionId); Timeouts the
	// calls unanswered within CallTimeout; BadFrames the messages that are
	// not OCPP-J or answer no outstanding call.
	CallErrors int64
	Refused    int64
	Timeouts   int64
	BadFrames  int64
	// ServerCalls counts CALLs the server sent; each is answered with a
	// CALLERROR NotSupported.
	ServerCalls int64
}

// Failed is every call that did not end in a usable CALLRESULT.
func (s Stats) Failed() int64 { return s.CallErrors + s.Refused + s.Timeouts + s.BadFrames }

// Generator runs a fleet of chargers.
type Generator struct {
	cfg    Config
	dialer *websocket.Dialer
	dial   chan struct{}

	connected, dialErrors, disconnects              atomic.Int64
	calls, acked, meterValues, transactions         atomic.Int64
	callErrors, refused, timeouts, badFrames, srvCl atomic.Int64
}

// New checks cfg and returns a Generator.
func New(cfg Config) (*Generator, error) {
	if !strings.HasPrefix(cfg.URL, "ws://") && !strings.HasPrefix(cfg.URL, "wss://") {
		return nil, fmt.Errorf("extgen: URL %q: want ws:// or wss://", cfg.URL)
	}
	if cfg.Chargers < 1 {
		return nil, fmt.Errorf("extgen: %d chargers: want at least 1", cfg.Chargers)
	}
	switch cfg.Mode {
	case Idle, Saturation:
	case Paced:
		if cfg.Interval <= 0 {
			return nil, errors.New("extgen: paced needs an interval above zero")
		}
	default:
		return nil, fmt.Errorf("extgen: mode %q: want idle, saturation or paced", cfg.Mode)
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 60 * time.Second
	}
	if cfg.MaxDialing <= 0 {
		cfg.MaxDialing = 128
	}
	nd := &net.Dialer{Timeout: 30 * time.Second}
	if cfg.LocalAddr != "" {
		ip := net.ParseIP(cfg.LocalAddr)
		if ip == nil {
			return nil, fmt.Errorf("extgen: local address %q is not an IP address", cfg.LocalAddr)
		}
		nd.LocalAddr = &net.TCPAddr{IP: ip}
	}
	d := &websocket.Dialer{
		NetDialContext:   nd.DialContext,
		HandshakeTimeout: 30 * time.Second,
		Subprotocols:     []string{"ocpp1.6"},
		// Small buffers, and the write buffer shared while idle: a load
		// process holds thousands of connections.
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
		WriteBufferPool: &sync.Pool{},
	}
	return &Generator{cfg: cfg, dialer: d, dial: make(chan struct{}, cfg.MaxDialing)}, nil
}

// Stats returns the counters so far.
func (g *Generator) Stats() Stats {
	return Stats{
		Connected: g.connected.Load(), DialErrors: g.dialErrors.Load(), Disconnects: g.disconnects.Load(),
		Calls: g.calls.Load(), Acknowledged: g.acked.Load(), MeterValues: g.meterValues.Load(),
		Transactions: g.transactions.Load(), CallErrors: g.callErrors.Load(), Refused: g.refused.Load(),
		Timeouts: g.timeouts.Load(), BadFrames: g.badFrames.Load(), ServerCalls: g.srvCl.Load(),
	}
}

// Run runs every charger until ctx ends, reconnecting those that lose
// their connection, and returns once all have closed.
func (g *Generator) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range g.cfg.Chargers {
		id := fmt.Sprintf("%s%05d", g.cfg.IDPrefix, i+1)
		wg.Go(func() { g.charger(ctx, id) })
	}
	wg.Wait()
	return nil
}

// charger runs one charger's connections until ctx ends.
func (g *Generator) charger(ctx context.Context, id string) {
	backoff := time.Second
	for ctx.Err() == nil {
		opened, err := g.session(ctx, id)
		if ctx.Err() != nil {
			return
		}
		if opened {
			g.disconnects.Add(1)
			backoff = time.Second
		} else if err != nil {
			g.dialErrors.Add(1)
			backoff = min(2*backoff, 30*time.Second)
		}
		// Wait a random part of the backoff, so a fleet that lost its
		// server does not come back all at once.
		if !sleep(ctx, backoff/2+rand.N(backoff/2+1)) {
			return
		}
	}
}

// session dials, boots and runs the mode's calls until the connection
// fails or ctx ends. opened says whether the connection was open.
func (g *Generator) session(ctx context.Context, id string) (opened bool, err error) {
	c, err := g.open(ctx, id)
	if err != nil {
		return false, err
	}
	defer c.close()
	boot, err := c.call(ctx, "BootNotification", func(b []byte) []byte {
		return append(b, `{"chargePointVendor":"extgen","chargePointModel":"load generator","chargePointSerialNumber":"`+id+`"}`...)
	})
	if err != nil {
		return true, err
	}
	var ba struct {
		Status   string `json:"status"`
		Interval int    `json:"interval"`
	}
	if err := json.Unmarshal(boot, &ba); err != nil || ba.Status != "Accepted" {
		g.refused.Add(1)
		return true, fmt.Errorf("boot notification not accepted: %s", boot)
	}
	hb := time.Duration(ba.Interval) * time.Second
	if g.cfg.HeartbeatInterval > 0 {
		hb = g.cfg.HeartbeatInterval
	}
	if hb <= 0 {
		hb = 5 * time.Minute
	}
	var tx int64
	if g.cfg.Mode != Idle {
		if tx, err = g.start(ctx, c, id); err != nil {
			return true, err
		}
	}
	g.connected.Add(1)
	defer g.connected.Add(-1)
	// The first heartbeat and MeterValues fall at a random point of their
	// interval, spreading the fleet's calls evenly.
	now := time.Now()
	nextHB := now.Add(rand.N(hb))
	var nextMV time.Time
	if g.cfg.Mode == Paced {
		nextMV = now.Add(rand.N(g.cfg.Interval))
	}
	var energy int64
	for {
		now := time.Now()
		if !now.Before(nextHB) {
			nextHB = now.Add(hb)
			if _, err := c.call(ctx, "Heartbeat", func(b []byte) []byte { return append(b, "{}"...) }); err != nil && !isCallError(err) {
				return true, err
			}
			continue
		}
		wake := nextHB
		if g.cfg.Mode == Saturation || (g.cfg.Mode == Paced && !now.Before(nextMV)) {
			if g.cfg.Mode == Paced {
				// A charger that fell behind does not burst to catch
				// up: its next one follows this one's answer.
				if nextMV = nextMV.Add(g.cfg.Interval); nextMV.Before(now) {
					nextMV = now
				}
			}
			energy += 7
			_, err := c.call(ctx, "MeterValues", func(b []byte) []byte { return meterValues(b, tx, energy, now) })
			if err == nil {
				g.meterValues.Add(1)
				if g.cfg.MeterValuesAcknowledged != nil {
					g.cfg.MeterValuesAcknowledged(id, tx, energy)
				}
			} else if !isCallError(err) {
				return true, err
			}
			continue
		}
		if g.cfg.Mode == Paced && nextMV.Before(wake) {
			wake = nextMV
		}
		if !sleep(ctx, time.Until(wake)) {
			return true, ctx.Err()
		}
	}
}

// start sends StartTransaction on connector 1 and returns its transaction
// id.
func (g *Generator) start(ctx context.Context, c *conn, id string) (int64, error) {
	ans, err := c.call(ctx, "StartTransaction", func(b []byte) []byte {
		b = append(b, `{"connectorId":1,"idTag":"`...)
		b = append(b, idTag(id)...)
		b = append(b, `","meterStart":0,"timestamp":"`...)
		b = time.Now().UTC().AppendFormat(b, time.RFC3339)
		return append(b, `"}`...)
	})
	if err != nil {
		return 0, err
	}
	var sa struct {
		TransactionID *int64 `json:"transactionId"`
		IDTagInfo     struct {
			Status string `json:"status"`
		} `json:"idTagInfo"`
	}
	if err := json.Unmarshal(ans, &sa); err != nil || sa.TransactionID == nil || sa.IDTagInfo.Status != "Accepted" {
		g.refused.Add(1)
		return 0, fmt.Errorf("start transaction refused: %s", ans)
	}
	g.transactions.Add(1)
	return *sa.TransactionID, nil
}

// idTag is the charger's id tag: at most 20 characters, as OCPP 1.6's
// IdToken allows.
func idTag(id string) string {
	t := "X" + id
	if len(t) > 20 {
		t = t[len(t)-20:]
	}
	return t
}

// meterValues appends a MeterValues payload with three sampled values: the
// energy register, the power and the current.
func meterValues(b []byte, tx, energyWh int64, at time.Time) []byte {
	b = append(b, `{"connectorId":1,"transactionId":`...)
	b = strconv.AppendInt(b, tx, 10)
	b = append(b, `,"meterValue":[{"timestamp":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","sampledValue":[{"value":"`...)
	b = strconv.AppendInt(b, energyWh, 10)
	b = append(b, `","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"},`...)
	b = append(b, `{"value":"7400","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"},`...)
	b = append(b, `{"value":"32.1","context":"Sample.Periodic","measurand":"Current.Import","phase":"L1","unit":"A"}]}]}`...)
	return b
}

// open dials the charger's connection, at most MaxDialing at once.
func (g *Generator) open(ctx context.Context, id string) (*conn, error) {
	select {
	case g.dial <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-g.dial }()
	url := strings.TrimSuffix(g.cfg.URL, "/") + "/" + id
	ws, resp, err := g.dialer.DialContext(ctx, url, http.Header{})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	if ws.Subprotocol() != "ocpp1.6" {
		ws.Close()
		return nil, fmt.Errorf("dial %s: the server chose subprotocol %q, not ocpp1.6", url, ws.Subprotocol())
	}
	c := &conn{g: g, ws: ws, answers: make(chan answer, 1), done: make(chan struct{})}
	go c.read()
	return c, nil
}

// conn is one open connection: the charger's goroutine writes one CALL at
// a time and waits; the read goroutine hands it the answer.
type conn struct {
	g  *Generator
	ws *websocket.Conn
	// wmu serialises writes: the charger's CALLs and the read goroutine's
	// answers to server CALLs.
	wmu  sync.Mutex
	wbuf []byte
	seq  uint64

	// mu guards waiting and sentAt, the outstanding call.
	mu      sync.Mutex
	waiting string
	sentAt  time.Time
	answers chan answer
	done    chan struct{}
}

type answer struct {
	payload json.RawMessage
	errCode string
	err     error
}

// CallError is a CALLERROR answer. The connection stays open: a charger
// whose MeterValues or Heartbeat is refused goes on with the next one.
type CallError struct {
	Action, Code string
}

func (e *CallError) Error() string { return e.Action + ": CALLERROR " + e.Code }

// call writes a CALL with the payload build appends, and waits for its
// answer: the CALLRESULT's payload, or an error for a CALLERROR, a
// timeout or a lost connection.
func (c *conn) call(ctx context.Context, action string, build func([]byte) []byte) (json.RawMessage, error) {
	c.seq++
	id := strconv.FormatUint(c.seq, 10)
	c.wmu.Lock()
	b := append(c.wbuf[:0], `[2,"`...)
	b = append(b, id...)
	b = append(b, `","`...)
	b = append(b, action...)
	b = append(b, `",`...)
	b = build(b)
	b = append(b, ']')
	c.wbuf = b
	c.mu.Lock()
	c.waiting, c.sentAt = id, time.Now()
	c.mu.Unlock()
	c.g.calls.Add(1)
	err := c.ws.WriteMessage(websocket.TextMessage, b)
	c.wmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", action, err)
	}
	t := time.NewTimer(c.g.cfg.CallTimeout)
	defer t.Stop()
	select {
	case a := <-c.answers:
		if a.err != nil {
			return nil, fmt.Errorf("%s: %w", action, a.err)
		}
		if a.errCode != "" {
			c.g.callErrors.Add(1)
			return nil, &CallError{Action: action, Code: a.errCode}
		}
		c.g.acked.Add(1)
		return a.payload, nil
	case <-t.C:
		c.g.timeouts.Add(1)
		return nil, fmt.Errorf("%s: no answer in %v", action, c.g.cfg.CallTimeout)
	case <-c.done:
		return nil, fmt.Errorf("%s: connection closed", action)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// read reads every message until the connection fails: answers go to the
// waiting call, server CALLs get a CALLERROR NotSupported.
func (c *conn) read() {
	defer close(c.done)
	for {
		typ, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		at := time.Now()
		if typ != websocket.TextMessage {
			c.g.badFrames.Add(1)
			continue
		}
		var f []json.RawMessage
		var kind int
		var id string
		if json.Unmarshal(msg, &f) != nil || len(f) < 3 || json.Unmarshal(f[0], &kind) != nil || json.Unmarshal(f[1], &id) != nil {
			c.g.badFrames.Add(1)
			continue
		}
		switch {
		case kind == 2 && len(f) == 4:
			c.g.srvCl.Add(1)
			c.answerServerCall(id)
			continue
		case kind == 3 && len(f) == 3:
			c.deliver(id, at, answer{payload: f[2]})
		case kind == 4 && len(f) == 5:
			var code string
			if json.Unmarshal(f[2], &code) != nil || code == "" {
				c.g.badFrames.Add(1)
				continue
			}
			c.deliver(id, at, answer{errCode: code})
		default:
			c.g.badFrames.Add(1)
		}
	}
}

// deliver hands an answer to the call waiting for id; an answer to no
// outstanding call is a bad frame.
func (c *conn) deliver(id string, at time.Time, a answer) {
	c.mu.Lock()
	if c.waiting != id {
		c.mu.Unlock()
		c.g.badFrames.Add(1)
		return
	}
	c.waiting = ""
	sent := c.sentAt
	c.mu.Unlock()
	if c.g.cfg.Record != nil {
		c.g.cfg.Record(at.Sub(sent))
	}
	c.answers <- a
}

// answerServerCall refuses a server's CALL: the generator implements no
// server-initiated action.
func (c *conn) answerServerCall(id string) {
	idJSON, _ := json.Marshal(id)
	frame := `[4,` + string(idJSON) + `,"NotSupported","the load generator implements no server-initiated action",{}]`
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.WriteMessage(websocket.TextMessage, []byte(frame))
}

// close closes the connection and waits for its read goroutine.
func (c *conn) close() {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	c.ws.Close()
	<-c.done
}

func isCallError(err error) bool {
	var ce *CallError
	return errors.As(err, &ce)
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
