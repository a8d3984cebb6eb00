package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// Subprotocol is the WebSocket subprotocol a charger asks for.
const Subprotocol = "ocpp1.6"

// maxQueued bounds the transaction messages a charger keeps while offline; past
// it the oldest MeterValues are dropped, as real chargers do when their
// storage fills.
const maxQueued = 1000

// errOffline is what a pending call fails with when the connection goes.
var errOffline = errors.New("connection lost")

// Charger is one simulated OCPP 1.6J charge point. Create it with NewCharger
// and run it with Run; it connects, boots, charges and answers the central
// system until Run's context ends, reconnecting by itself.
//
// A charger holds no goroutine of its own while idle: one goroutine dials and
// then reads its connection, and a single timer drives everything else.
type Charger struct {
	id  string
	cfg *Config
	// urls are the charger's URLs at each of the central system's nodes
	// (Config.URL); it dials urls[node] and moves to the next one when a
	// dial fails (mu guards node).
	urls      []string
	node      int
	log       *slog.Logger
	ctr       *counters
	dialSem   chan struct{}
	localAddr netip.Addr

	// wg counts scheduled or running timer callbacks; the one that dials
	// goes on to read the connection, so it covers the reader too.
	wg sync.WaitGroup

	// mu guards everything below. Socket writes happen with mu held, so
	// frames never interleave and state changes and the frames that report
	// them stay in order.
	mu      sync.Mutex
	rng     *rand.Rand
	started bool
	stopped bool
	timer   *time.Timer
	jobs    []job
	// pumpAt, when set, is when the head of the queue (or the next Boot)
	// may go out.
	pumpAt time.Time
	// nextSaturate is when a paced saturation charger sends its next
	// MeterValues (Config.SaturateInterval).
	nextSaturate time.Time

	conn       *wsConn
	wantDial   bool
	dialing    bool
	dialCancel context.CancelFunc
	backoff    time.Duration
	holdUntil  time.Time // no reconnect before this (outage or reboot)

	// v201: the charger is an OCPP 2.0.1 station (Config.Protocol).
	v201 bool
	// txSeq numbers a 2.0.1 station's transactions; remoteStartID is set
	// while a RequestStartTransaction's session begins.
	txSeq         int
	remoteStartID *int64

	registered     bool
	everRegistered bool
	bootStatus     string // last BootNotification answer
	bootAt         time.Time
	hbInterval     int // seconds, from BootNotification or HeartbeatInterval
	hbGen          uint64
	hbQueued       bool

	nextMsgID uint64
	queue     []*outCall
	inflight  *outCall
	deadline  time.Time // when the in-flight call times out

	connectors []*connector // index 0 is the charge point itself
	keys       keyStore

	resetPending  bool
	resetDeadline time.Time

	firmware     string
	fwStatus     string // last FirmwareStatusNotification status
	fwGen        uint64
	fwInstalled  func() // sends the final firmware status after the reboot
	sfwStatus    string // last SignedFirmwareStatusNotification status
	sfwRequestID int
	diagStatus   string
	logStatus    string
	logRequestID int
	localList    map[string]idTagInfo
	listVersion  int
	certs        []installedCert
	chargerCert  string
	sec          chargerSecurity
}

// job is an action the timer runs at a time.
type job struct {
	at time.Time
	fn func()
}

// outCall is a CALL the charger sends or will send.
type outCall struct {
	action string
	// tx marks transaction messages: kept across disconnects and reboots,
	// replayed in order and retried on CALLERROR.
	tx bool
	// triggered calls answer a TriggerMessage and may go out while the
	// BootNotification is Pending.
	triggered bool
	// malformed sends the frame truncated (Faults.MalformedFrame).
	malformed bool
	payload   []byte
	// build makes the payload at send time, when it needs the transaction
	// id; ok false drops the call.
	build    func() (payload []byte, ok bool)
	onResult func(payload json.RawMessage)
	onError  func(err error)

	attempts  int
	notBefore time.Time
	id        string
	sentAt    time.Time
}

// chargerURLs returns a charger's URL at each base URL.
func chargerURLs(bases []string, id string) []string {
	out := make([]string, len(bases))
	for i, b := range bases {
		out[i] = b + "/" + url.PathEscape(id)
	}
	return out
}

// HomeNode is the index of the URL (of n comma-separated ones) a charger
// with id connects to first; it moves on only when that node cannot be
// reached. The benchmark uses it to send a command to a node that does, or
// does not, hold the charger.
func HomeNode(id string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(id))
	return int(h.Sum64() % uint64(n))
}

// NewCharger returns a charger with id (the chargePointId in the URL) and
// the given configuration.
func NewCharger(cfg Config, id string) (*Charger, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var la netip.Addr
	if len(c.LocalAddrs) > 0 {
		la = c.LocalAddrs[0]
	}
	return newCharger(&c, id, &counters{}, nil, la)
}

func newCharger(cfg *Config, id string, ctr *counters, sem chan struct{}, la netip.Addr) (*Charger, error) {
	if id == "" || len(id) > 48 {
		return nil, fmt.Errorf("charger id %q: want 1 to 48 characters", id)
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	rng := rand.New(rand.NewPCG(cfg.Seed, h.Sum64()))
	c := &Charger{
		id:         id,
		cfg:        cfg,
		urls:       chargerURLs(cfg.URLs(), id),
		node:       HomeNode(id, len(cfg.URLs())),
		log:        cfg.Logger.With("charger", id),
		ctr:        ctr,
		dialSem:    sem,
		localAddr:  la,
		rng:        rng,
		hbInterval: 300,
		firmware:   "1.4.2",
		fwStatus:   "Idle",
		diagStatus: "Idle",
		logStatus:  "Idle",
		v201:       cfg.Protocol == "2.0.1",
	}
	c.connectors = make([]*connector, cfg.Connectors+1)
	for i := range c.connectors {
		c.connectors[i] = &connector{
			id:         i,
			status:     "Available",
			operative:  true,
			registerWh: float64(100_000 + rng.IntN(4_000_000)),
		}
	}
	c.keys.init(c)
	c.sec.password = cfg.Password
	return c, nil
}

// ID returns the charger's chargePointId.
func (c *Charger) ID() string { return c.id }

// Stats returns the charger's counters; for a charger of a Fleet they are the
// fleet's.
func (c *Charger) Stats() Stats { return c.ctr.snapshot() }

// Run runs the charger until ctx is done, then closes its connection and
// returns nil once every goroutine it started has ended. A Charger runs only
// once.
func (c *Charger) Run(ctx context.Context) error {
	if err := c.start(); err != nil {
		return err
	}
	<-ctx.Done()
	c.halt()
	c.wg.Wait()
	return nil
}

func (c *Charger) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return fmt.Errorf("charger %s: Run called twice", c.id)
	}
	c.started = true
	c.wantDial = true
	c.at(time.Now(), func() {})
	c.arm()
	return nil
}

// halt stops the charger: no more timers, dials or frames. The goroutines
// still running notice and end; wait for them with c.wg.
func (c *Charger) halt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.stopped = true
	if c.dialCancel != nil {
		c.dialCancel()
	}
	if c.conn != nil {
		c.closeConn(c.conn, true)
	}
	if c.timer != nil && c.timer.Stop() {
		c.wg.Done()
	}
	c.jobs = nil
}

// StartSession starts a session on connector (1 to Connectors) with idTag,
// as if a driver plugged in and presented a card: Authorize, then
// StartTransaction. It fails if the connector is not free.
func (c *Charger) StartSession(connector int, idTag string) error {
	c.mu.Lock()
	defer c.settle()
	if connector < 1 || connector >= len(c.connectors) {
		return fmt.Errorf("start session: connector %d out of range 1..%d", connector, len(c.connectors)-1)
	}
	cn := c.connectors[connector]
	if !c.free(cn, idTag) {
		return fmt.Errorf("start session: connector %d is %s", connector, cn.status)
	}
	c.beginSession(cn, idTag, false)
	return nil
}

// Charging reports whether connector has a session charging under a
// transaction the charger knows the id of: from then on the central system
// can address the transaction (a TxProfile, a remote stop) and the charger
// will know it. (The central system stores the transaction before the
// charger has read its id in the answer.)
func (c *Charger) Charging(connector int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if connector < 1 || connector >= len(c.connectors) {
		return false
	}
	s := c.connectors[connector].sess
	return s != nil && s.charging() && s.txKnown && !s.ended
}

// LimitW is the power connector may draw now under the charging profiles
// in force, W (the charger's maximum without one).
func (c *Charger) LimitW(connector int) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if connector < 0 || connector >= len(c.connectors) {
		return 0
	}
	return c.limitW(c.connectors[connector], c.now())
}

// StopSession ends the session on connector with an OCPP 1.6 stop reason
// ("Local", "EVDisconnected", …). It fails if no session is charging there.
func (c *Charger) StopSession(connector int, reason string) error {
	c.mu.Lock()
	defer c.settle()
	if !contains(stopReasons, reason) {
		return fmt.Errorf("stop session: %q is not an OCPP 1.6 stop reason", reason)
	}
	if connector < 1 || connector >= len(c.connectors) {
		return fmt.Errorf("stop session: connector %d out of range 1..%d", connector, len(c.connectors)-1)
	}
	cn := c.connectors[connector]
	if cn.sess == nil || cn.sess.ended || !cn.sess.started {
		return fmt.Errorf("stop session: no session charging on connector %d", connector)
	}
	c.endSession(cn, cn.sess, reason)
	return nil
}

// settle sends what can be sent, re-arms the timer and unlocks mu. Every
// entry point that locks mu ends with it.
func (c *Charger) settle() {
	c.pump()
	c.arm()
	c.mu.Unlock()
}

// after schedules fn to run with mu held after d.
func (c *Charger) after(d time.Duration, fn func()) { c.at(time.Now().Add(d), fn) }

func (c *Charger) at(t time.Time, fn func()) {
	if c.stopped {
		return
	}
	c.jobs = append(c.jobs, job{t, fn})
}

// arm sets the timer to the earliest pending job or deadline. Each scheduled
// firing holds one count of wg, released by the callback or by a Stop or
// Reset that cancels it.
func (c *Charger) arm() {
	if c.stopped || !c.started {
		return
	}
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, j := range c.jobs {
		consider(j.at)
	}
	consider(c.pumpAt)
	if c.inflight != nil {
		consider(c.deadline)
	}
	if next.IsZero() {
		if c.timer != nil && c.timer.Stop() {
			c.wg.Done()
		}
		return
	}
	d := time.Until(next)
	c.wg.Add(1)
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.fire)
	} else if c.timer.Reset(d) {
		c.wg.Done() // the firing it replaced will not happen
	}
}

// fire runs due jobs; when a reconnect is due it goes on to dial and then to
// read the connection until it closes.
func (c *Charger) fire() {
	defer c.wg.Done()
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	now := time.Now()
	if !c.pumpAt.IsZero() && !c.pumpAt.After(now) {
		c.pumpAt = time.Time{}
	}
	if c.inflight != nil && !c.deadline.After(now) {
		c.ctr.errors.Add(1)
		c.log.Warn("no answer to call; reconnecting", "action", c.inflight.action, "id", c.inflight.id, "timeout", c.cfg.CallTimeout)
		c.refused("disconnect", fmt.Sprintf("no answer to %s in %v; reconnecting", c.inflight.action, c.cfg.CallTimeout))
		c.disconnect(false)
	}
	for !c.stopped {
		i := c.dueJob(now)
		if i < 0 {
			break
		}
		fn := c.jobs[i].fn
		c.jobs = slices.Delete(c.jobs, i, i+1)
		fn()
	}
	if c.wantDial && now.Before(c.holdUntil) { // an outage or reboot began meanwhile
		c.wantDial = false
		c.at(c.holdUntil, func() { c.wantDial = true })
	}
	var ctx context.Context
	if c.wantDial && !c.dialing && c.conn == nil && !c.stopped {
		c.wantDial = false
		c.dialing = true
		ctx, c.dialCancel = context.WithCancel(context.Background())
	}
	c.settle()
	if ctx != nil {
		c.connectAndServe(ctx)
	}
}

// dueJob returns the index of the earliest job due at now, or -1.
func (c *Charger) dueJob(now time.Time) int {
	best := -1
	for i, j := range c.jobs {
		if !j.at.After(now) && (best < 0 || j.at.Before(c.jobs[best].at)) {
			best = i
		}
	}
	return best
}

// scheduleReconnect arranges the next connection attempt after an
// exponential backoff with jitter, and not before holdUntil.
func (c *Charger) scheduleReconnect() {
	if c.stopped {
		return
	}
	if c.backoff == 0 {
		c.backoff = c.cfg.ReconnectMin
	} else {
		c.backoff = min(2*c.backoff, c.cfg.ReconnectMax)
	}
	half := c.backoff / 2
	at := time.Now().Add(half + time.Duration(c.rng.Int64N(int64(half)+1)))
	if c.holdUntil.After(at) {
		at = c.holdUntil
	}
	c.at(at, func() { c.wantDial = true })
}

// connectAndServe dials, then reads the connection until it closes. It runs
// without mu.
func (c *Charger) connectAndServe(ctx context.Context) {
	c.mu.Lock()
	target := c.urls[c.node]
	c.mu.Unlock()
	cc, err := c.dial(ctx, target)
	c.mu.Lock()
	c.dialing = false
	if c.dialCancel != nil {
		c.dialCancel()
		c.dialCancel = nil
	}
	if c.stopped {
		if cc != nil {
			cc.nc.Close()
		}
		c.mu.Unlock()
		return
	}
	if err != nil {
		c.ctr.errors.Add(1)
		c.ctr.dialErrors.Add(1)
		c.log.Debug("connect failed", "url", target, "err", err)
		// Another node may take it (a cluster whose node died).
		c.node = (c.node + 1) % len(c.urls)
		var re *refusalError
		if errors.As(err, &re) {
			c.refused("connect", re.reason)
		}
		c.scheduleReconnect()
		c.settle()
		return
	}
	if time.Now().Before(c.holdUntil) { // an outage or reboot began while dialing
		cc.nc.Close()
		c.at(c.holdUntil, func() { c.wantDial = true })
		c.settle()
		return
	}
	c.conn = cc
	c.ctr.connected.Add(1)
	c.ctr.connects.Add(1)
	c.log.Debug("connected", "url", target, "queued", len(c.queue))
	if c.registered {
		// Back after an outage: the queued transaction messages go first,
		// then the connectors' current status.
		for _, cn := range c.connectors {
			c.sendStatus(cn, false)
		}
	}
	c.settle()

	err = c.readLoop(cc)

	c.mu.Lock()
	if c.conn == cc {
		c.log.Debug("connection closed by the central system", "err", err)
		c.refused("disconnect", lostReason(err))
		c.disconnect(false)
	}
	c.settle()
}

// lostReason says why a connection the charger did not close ended,
// without naming the charger: the central system's close frame (code and
// reason) or the read error.
func lostReason(err error) string {
	var ce wsutil.ClosedError
	if errors.As(err, &ce) {
		return fmt.Sprintf("closed by the central system: %d %s", ce.Code, ce.Reason)
	}
	if err == nil {
		return "connection ended"
	}
	return "connection lost: " + err.Error()
}

// closeConn closes cc, saying goodbye first if graceful.
func (c *Charger) closeConn(cc *wsConn, graceful bool) {
	if cc.closed {
		return
	}
	cc.closed = true
	if graceful {
		cc.writeClose(c.cfg.WriteTimeout)
	}
	cc.nc.Close()
	if c.conn == cc {
		c.conn = nil
		c.ctr.connected.Add(-1)
		c.ctr.disconnects.Add(1)
	}
}

// disconnect drops the connection: the in-flight transaction message goes
// back to the head of the queue, other messages are dropped, and a reconnect
// is scheduled.
func (c *Charger) disconnect(graceful bool) {
	cc := c.conn
	if cc == nil {
		return
	}
	c.closeConn(cc, graceful)
	var failed []*outCall
	if call := c.inflight; call != nil {
		c.inflight = nil
		if call.tx {
			c.queue = slices.Insert(c.queue, 0, call)
		} else {
			failed = append(failed, call)
		}
	}
	kept := c.queue[:0]
	for _, call := range c.queue {
		if call.tx {
			kept = append(kept, call)
		} else {
			failed = append(failed, call)
		}
	}
	clear(c.queue[len(kept):])
	c.queue = kept
	c.hbQueued = false
	for _, call := range failed {
		if call.onError != nil {
			call.onError(errOffline)
		}
	}
	c.scheduleReconnect()
}

// online reports whether calls can go out now.
func (c *Charger) online() bool { return c.conn != nil && c.registered }

// enqueue adds a call to the queue. Other than transaction messages, calls
// are only queued while online (or, when triggered, connected); it reports
// whether the call was queued.
func (c *Charger) enqueue(call *outCall) bool {
	if !call.tx && (c.conn == nil || !(c.registered || call.triggered)) {
		return false
	}
	if call.tx && len(c.queue) >= maxQueued {
		for i, q := range c.queue {
			if q.action == "MeterValues" {
				c.queue = slices.Delete(c.queue, i, i+1)
				c.log.Debug("offline queue full; dropped oldest MeterValues")
				break
			}
		}
	}
	c.queue = append(c.queue, call)
	return true
}

// pushFront puts a call at the head of the queue.
func (c *Charger) pushFront(call *outCall) { c.queue = slices.Insert(c.queue, 0, call) }

// pump sends queued calls, one outstanding at a time.
func (c *Charger) pump() {
	for c.conn != nil && c.inflight == nil && !c.stopped {
		call := c.nextCall()
		if call == nil {
			break
		}
		c.sendCall(call)
	}
	c.maybeReset(false)
}

// nextCall takes the next call that may go out now, or returns nil.
func (c *Charger) nextCall() *outCall {
	now := time.Now()
	if !c.registered {
		if c.bootStatus == "Pending" {
			for i, call := range c.queue {
				if call.triggered {
					c.queue = slices.Delete(c.queue, i, i+1)
					return call
				}
			}
		}
		if c.bootAt.After(now) {
			c.wakeAt(c.bootAt)
			return nil
		}
		c.bootAt = now.Add(c.cfg.CallTimeout) // until answered
		return c.bootCall(false)
	}
	if len(c.queue) == 0 {
		if c.cfg.Saturate {
			return c.saturationCall()
		}
		return nil
	}
	head := c.queue[0]
	if head.notBefore.After(now) {
		c.wakeAt(head.notBefore)
		return nil
	}
	c.queue[0] = nil
	c.queue = c.queue[1:]
	if len(c.queue) == 0 {
		c.queue = nil // let the backing array go
	}
	return head
}

// wakeAt makes the timer pump again at t.
func (c *Charger) wakeAt(t time.Time) {
	if c.pumpAt.IsZero() || t.Before(c.pumpAt) {
		c.pumpAt = t
	}
}

// sendCall writes a CALL and makes it the in-flight one.
func (c *Charger) sendCall(call *outCall) {
	payload := call.payload
	if call.build != nil {
		p, ok := call.build()
		if !ok {
			return
		}
		payload = p
	}
	if call.action == "Heartbeat" {
		c.hbQueued = false
	}
	c.nextMsgID++
	call.id = strconv.FormatUint(c.nextMsgID, 10)
	call.sentAt = time.Now()
	c.inflight = call
	c.deadline = call.sentAt.Add(c.cfg.CallTimeout)
	c.ctr.calls.Add(1)
	bp := getBuf()
	frame := ocpp.AppendCall((*bp)[:0], call.id, call.action, payload)
	if call.malformed {
		frame = frame[:len(frame)-2] // cut "}]": the frame is no longer JSON
	}
	err := c.conn.writeText(frame, c.cfg.WriteTimeout)
	*bp = frame
	putBuf(bp)
	if err != nil {
		c.ctr.errors.Add(1)
		c.log.Debug("write failed", "action", call.action, "err", err)
		c.disconnect(false)
	}
}

// handleFrame handles one frame read from cc.
func (c *Charger) handleFrame(data []byte) {
	f, err := ocpp.ParseFrame(data)
	if err != nil {
		var fe *ocpp.FrameError
		if errors.As(err, &fe) && fe.ID != "" && len(data) > 0 && isCallPrefix(data) {
			c.reply(ocpp.AppendCallError(nil, fe.ID, &ocpp.Error{Code: fe.Code, Description: fe.Reason}))
		}
		c.ctr.errors.Add(1)
		c.log.Warn("bad frame from central system", "err", err)
		return
	}
	switch f.Type {
	case ocpp.Call:
		c.handleCall(f)
	case ocpp.CallResult, ocpp.CallError:
		call := c.inflight
		if call == nil || call.id != f.ID {
			c.ctr.errors.Add(1)
			c.log.Warn("answer to no outstanding call", "id", f.ID)
			return
		}
		c.inflight = nil
		c.backoff = 0
		if h := c.cfg.Latency; h != nil {
			h.Record(time.Since(call.sentAt))
		}
		if f.Type == ocpp.CallResult {
			if call.onResult != nil {
				call.onResult(f.Payload)
			}
			return
		}
		c.callFailed(call, &ocpp.Error{Code: f.ErrorCode, Description: f.ErrorDescription})
	}
}

func isCallPrefix(data []byte) bool {
	for _, b := range data {
		switch b {
		case ' ', '\t', '\r', '\n', '[':
			continue
		case '2':
			return true
		default:
			return false
		}
	}
	return false
}

// callFailed handles a CALLERROR answer. Transaction messages are retried
// TransactionMessageAttempts times, TransactionMessageRetryInterval times the
// attempt apart, then dropped.
func (c *Charger) callFailed(call *outCall, e *ocpp.Error) {
	if call.malformed {
		c.log.Debug("malformed frame answered", "code", e.Code)
		return
	}
	c.ctr.callErrors.Add(1)
	c.ctr.errors.Add(1)
	if call.tx {
		call.attempts++
		if call.attempts < c.keys.int("TransactionMessageAttempts") {
			wait := time.Duration(call.attempts*c.keys.int("TransactionMessageRetryInterval")) * c.cfg.IntervalUnit
			call.notBefore = time.Now().Add(wait)
			c.log.Warn("central system refused a transaction message; will retry", "action", call.action, "code", e.Code, "desc", e.Description, "attempt", call.attempts, "in", wait)
			c.pushFront(call)
			return
		}
	}
	c.log.Warn("central system refused a call", "action", call.action, "code", e.Code, "desc", e.Description)
	c.refused("call", fmt.Sprintf("%s answered with CALLERROR %s: %s", call.action, e.Code, e.Description))
	if call.onError != nil {
		call.onError(e)
	}
}

// reply writes an answer to a CALL of the central system.
func (c *Charger) reply(frame []byte) {
	if c.conn == nil {
		return
	}
	if err := c.conn.writeText(frame, c.cfg.WriteTimeout); err != nil {
		c.ctr.errors.Add(1)
		c.log.Debug("write failed", "err", err)
		c.disconnect(false)
	}
}

// marshal encodes a payload the simulator built itself; it cannot fail.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sim: encode %T: %v", v, err))
	}
	return b
}

// stamp formats a timestamp, without a zone when Faults.NaiveTimestamps
// strikes.
func (c *Charger) stamp(t time.Time) string {
	if p := c.cfg.Faults.NaiveTimestamps; p > 0 && c.rng.Float64() < p {
		return t.UTC().Format("2006-01-02T15:04:05")
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func (c *Charger) now() time.Time { return c.cfg.Clock.Now() }

// bootCall builds a BootNotification.
func (c *Charger) bootCall(triggered bool) *outCall {
	serial := "SN" + c.id
	if len(serial) > 25 {
		serial = serial[len(serial)-25:]
	}
	req := bootNotificationReq{
		ChargePointVendor:       c.cfg.Vendor,
		ChargePointModel:        c.cfg.Model,
		ChargePointSerialNumber: serial,
		FirmwareVersion:         c.firmware,
		MeterType:               "DC meter",
		MeterSerialNumber:       "M" + serial[1:],
	}
	payload := marshal(req)
	if c.v201 {
		payload = c.boot201(serial)
	}
	return &outCall{
		action:    "BootNotification",
		triggered: triggered,
		payload:   payload,
		onResult:  c.onBootResult,
		onError: func(err error) {
			if err == errOffline {
				c.bootAt = time.Time{} // boot as soon as connected again
				return
			}
			c.bootAt = time.Now().Add(30 * c.cfg.IntervalUnit)
		},
	}
}

func (c *Charger) onBootResult(raw json.RawMessage) {
	var conf bootNotificationConf
	if err := json.Unmarshal(raw, &conf); err != nil {
		c.ctr.errors.Add(1)
		c.log.Warn("bad BootNotification answer", "err", err)
		c.bootAt = time.Now().Add(30 * c.cfg.IntervalUnit)
		return
	}
	c.bootStatus = conf.Status
	switch conf.Status {
	case "Accepted":
		if conf.Interval > 0 {
			c.hbInterval = conf.Interval
		}
		if !c.registered {
			c.onRegistered()
		} else {
			c.scheduleHeartbeat()
		}
	default: // Pending, Rejected: boot again after the interval given
		c.registered = false
		wait := conf.Interval
		if wait <= 0 {
			wait = 30
		}
		c.bootAt = time.Now().Add(time.Duration(wait) * c.cfg.IntervalUnit)
		c.log.Info("boot not accepted", "status", conf.Status, "retry_in", time.Duration(wait)*c.cfg.IntervalUnit)
		c.refused("boot", "BootNotification answered "+string(conf.Status))
	}
}

// onRegistered runs when the central system accepts the BootNotification.
func (c *Charger) onRegistered() {
	c.registered = true
	c.everRegistered = true
	c.log.Debug("registered", "heartbeat_interval", c.hbInterval)
	c.scheduleHeartbeat()
	for _, cn := range c.connectors {
		c.sendStatus(cn, false)
	}
	if f := c.fwInstalled; f != nil {
		c.fwInstalled = nil
		f()
	}
	for _, cn := range c.connectors[1:] {
		if cn.sess == nil {
			c.scheduleIdle(cn)
		}
	}
}

// scheduleHeartbeat (re)starts the heartbeat at the current interval.
func (c *Charger) scheduleHeartbeat() {
	c.hbGen++
	gen := c.hbGen
	d := time.Duration(c.hbInterval) * c.cfg.IntervalUnit
	if d <= 0 {
		return
	}
	var beat func()
	beat = func() {
		if gen != c.hbGen {
			return
		}
		if c.online() && !c.hbQueued {
			c.hbQueued = c.enqueue(c.heartbeatCall(false))
		}
		c.after(d, beat)
	}
	c.after(d, beat)
}

func (c *Charger) heartbeatCall(triggered bool) *outCall {
	p := c.cfg.Faults.MalformedFrame
	return &outCall{
		action:    "Heartbeat",
		triggered: triggered,
		malformed: p > 0 && c.rng.Float64() < p,
		payload:   []byte("{}"),
	}
}

// reboot restarts the charger: the connection closes, running sessions are
// forgotten without StopTransaction (a soft reset has stopped them already),
// and after RebootTime it connects and boots again. Queued transaction
// messages survive, as they do in a charger's flash.
func (c *Charger) reboot(graceful bool) {
	c.log.Info("rebooting", "graceful", graceful)
	c.resetPending = false
	c.registered = false
	c.bootStatus = ""
	c.bootAt = time.Time{}
	c.hbGen++
	for _, cn := range c.connectors {
		cn.idleGen++
		if s := cn.sess; s != nil && !s.ended {
			s.ended = true
			c.log.Info("session lost in reboot", "connector", cn.id, "tx", s.txID)
		}
		cn.sess = nil
		cn.res = nil
		cn.dropProfiles(func(p *chargingProfile) bool { return p.ChargingProfilePurpose == "TxProfile" })
		if cn.pendingInoperative {
			cn.operative = false
			cn.pendingInoperative = false
		}
		cn.status = c.idleStatus(cn)
	}
	c.holdUntil = time.Now().Add(c.cfg.RebootTime)
	c.backoff = 0
	if c.conn != nil {
		c.disconnect(graceful)
	} else {
		c.at(c.holdUntil, func() { c.wantDial = true })
	}
}

// maybeReset reboots after a soft reset once the stops are delivered, or at
// the deadline.
func (c *Charger) maybeReset(force bool) {
	if !c.resetPending {
		return
	}
	if !force && time.Now().Before(c.resetDeadline) {
		if c.inflight != nil {
			return
		}
		for _, q := range c.queue {
			if q.tx {
				return
			}
		}
	}
	c.reboot(true)
}

// refused tells Config.OnRefusal of a refusal by the central system.
func (c *Charger) refused(kind, reason string) {
	if f := c.cfg.OnRefusal; f != nil {
		f(kind, reason)
	}
}
