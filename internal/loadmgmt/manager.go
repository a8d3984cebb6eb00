package loadmgmt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// ChargingLimit is the limit one connector is to charge under.
type ChargingLimit struct {
	ChargerID   string
	ConnectorID int
	// TransactionID names the running transaction the limit is for; ""
	// makes it the default for the connector's next transactions.
	TransactionID string
	// LimitW is the power limit in W (0 pauses charging).
	LimitW float64
	// Phases the connector draws on, for chargers that take limits in A.
	Phases int
}

// RequestedBy names load management as the sender of its limits
// (charging.ChargingLimit.RequestedBy).
const RequestedBy = "loadmgmt"

// Limiter sets charging limits at chargers: the command port's "set
// charging limit". It returns an error when the charger is not connected,
// does not answer or rejects the limit.
type Limiter interface {
	SetChargingLimit(ctx context.Context, l ChargingLimit) error
}

// Core is what the Manager needs of the session core.
type Core interface {
	Subscribe(l charging.Listener)
	Store() charging.Store
}

// Config tunes a Manager. Zero values take the defaults.
type Config struct {
	Clock charging.Clock
	Log   *slog.Logger
	// RateInterval is the least time between two limits sent to one
	// charger (default 1 s).
	RateInterval time.Duration
	// Settle is how long after a connector's limit changed (or it started)
	// its measured draw is not trusted yet: the vehicle is still ramping
	// (default 30 s).
	Settle time.Duration
	// DrawThresholdW: a measured draw that moved less than this does not
	// re-allocate the site (default 1000 W).
	DrawThresholdW float64
	// MinChangeW: a new limit this close to the one in force is not sent
	// (default 100 W), except to pause or resume.
	MinChangeW float64
	// RetryInterval is when a limit a charger rejected, or could not
	// receive, is tried again (default 60 s); meanwhile the connector is
	// counted at its maximum.
	RetryInterval time.Duration
	// CallTimeout bounds one SetChargingLimit (default 60 s; the command
	// port has its own, shorter, call timeout).
	CallTimeout time.Duration
	// OnChange, when set, is called (from the Manager's loop, without its
	// lock held) after each change of a site's allocation or of a limit in
	// force, with the site's status. It must not block.
	OnChange func(SiteStatus)
	// Resync, when set, reloads every site and its chargers' open
	// sessions that often: a cluster's leader misses what happened while
	// its feeds were not yet subscribed, and a site change announced
	// at most once (default: never; one node hears everything in process).
	Resync time.Duration
}

func (c *Config) defaults() {
	if c.Clock == nil {
		c.Clock = charging.SystemClock{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.RateInterval <= 0 {
		c.RateInterval = time.Second
	}
	if c.Settle <= 0 {
		c.Settle = 30 * time.Second
	}
	if c.DrawThresholdW <= 0 {
		c.DrawThresholdW = 1000
	}
	if c.MinChangeW <= 0 {
		c.MinChangeW = 100
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 60 * time.Second
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 60 * time.Second
	}
}

// Manager keeps every site under its limit: it follows the core's session
// and connector events and the chargers' measured draw, allocates each site
// (Allocate) and sends the limits that changed through the Limiter. Limits
// that lower a connector are sent first; a raise is sent only once the
// limits in force (or being sent) of the others leave room for it, so the
// limits in force never add up to more than the site's limit. A connector
// whose charger is offline or rejected its limit is counted at its maximum.
type Manager struct {
	cfg     Config
	core    Core
	sites   *Sites
	limiter Limiter

	// events carries work to the loop; overflow says some was dropped and
	// the loop must reload everything.
	events   chan any
	overflow atomic.Bool
	// running: Run is managing the sites. Events heard while it is not
	// (a node of a cluster that does not lead) are dropped: the next Run
	// starts from the store.
	running atomic.Bool
	// sends counts SetChargingLimit calls in flight, to wait for them on
	// stop.
	sends sync.WaitGroup

	// mu guards the fields below. The loop writes them; the API reads.
	mu          sync.Mutex
	site        map[string]*siteState
	chargerSite map[string]string
	charger     map[string]*chargerState
	// wake is when a rate limit or a retry runs out next (zero: none).
	wake time.Time
	// announced holds, while the Manager does not run, the statuses the
	// Manager that does (on another node of a cluster) announced.
	announced map[string]SiteStatus
}

// wakeAt asks the loop to wake at t (m.mu held).
func (m *Manager) wakeAt(t time.Time) {
	if m.wake.IsZero() || t.Before(m.wake) {
		m.wake = t
	}
}

type connKey struct {
	charger string
	conn    int
}

func (k connKey) String() string { return fmt.Sprintf("%s/%d", k.charger, k.conn) }

type chargerState struct {
	offline bool
	// onlines counts the charger's comings online (presence); a send
	// remembers it (connState.sendOnlines) to see one that came while
	// it was in flight.
	onlines uint64
	// busy: a limit is being sent; next: no send before.
	busy bool
	next time.Time
}

type siteState struct {
	cfg   Site
	conns map[connKey]*connState
	res   Result
	// at is when the site was (re)loaded.
	at time.Time
	// dirty: something the status shows (a draw) changed.
	dirty bool
	// stale: the site must be allocated again (something it depends on
	// changed, or a limit it wants to send had to wait). Only stale sites
	// are allocated, so a MeterValues costs its own site at most.
	stale bool
	// shown is the site as last stored, when its reload is still to
	// come: what its status shows meanwhile.
	shown *Site
}

// connState is one connector that charges or is about to.
type connState struct {
	key       connKey
	charging  bool // a transaction runs (else: Preparing, about to)
	txID      string
	idTag     string
	since     time.Time
	drawW     float64
	drawAt    time.Time
	hasDraw   bool
	regWh     float64
	regAt     time.Time
	target    float64
	paused    bool
	applied   float64 // the limit in force, when known
	known     bool
	changedAt time.Time
	// lowered: the last limit confirmed was lower than the one before, so
	// a draw below it is the vehicle's own and need not wait to settle.
	lowered bool
	// wasMeasured is whether the last allocation trusted the draw.
	wasMeasured bool
	sending     bool
	sendingW    float64
	sendTx      string
	sendOnlines uint64
	fixed       bool
	reason      string
	retryAt     time.Time
}

// Loop messages besides charging.Event.
type (
	siteChanged struct{ id string }
	presence    struct {
		charger string
		online  bool
	}
	sendDone struct {
		key    connKey
		limitW float64
		tx     string
		err    error
	}
)

// NewManager returns a Manager; Run starts it.
func NewManager(core Core, docs charging.DocStore, limiter Limiter, cfg Config) *Manager {
	cfg.defaults()
	m := &Manager{cfg: cfg, core: core, sites: NewSites(docs), limiter: limiter,
		events: make(chan any, 4096), site: map[string]*siteState{}, chargerSite: map[string]string{}, charger: map[string]*chargerState{},
		announced: map[string]SiteStatus{}}
	core.Subscribe(m.listen)
	return m
}

// Sites returns the site documents.
func (m *Manager) Sites() *Sites { return m.sites }

func (m *Manager) post(v any) {
	if !m.running.Load() {
		return
	}
	select {
	case m.events <- v:
	default:
		m.overflow.Store(true)
	}
}

// Hear takes an event the core's Subscribe did not deliver: in a cluster,
// the changes of chargers other nodes hold (and this node's, through the
// cluster's stream) and their meter values.
func (m *Manager) Hear(e charging.Event) { m.listen(e) }

// Announced takes a site's status from the Manager that runs on another
// node of a cluster, for Status and Statuses to show while this one does
// not run.
func (m *Manager) Announced(st SiteStatus) {
	if m.running.Load() {
		return
	}
	m.mu.Lock()
	m.announced[st.ID] = st
	m.mu.Unlock()
}

// SiteChanged tells the Manager a site was stored or deleted elsewhere
// (through another node of a cluster): it reloads it.
func (m *Manager) SiteChanged(id string) { m.post(siteChanged{id: id}) }

// listen queues the core's events of chargers in a site.
func (m *Manager) listen(e charging.Event) {
	if !m.running.Load() {
		return
	}
	m.mu.Lock()
	_, ok := m.chargerSite[e.ChargerID]
	m.mu.Unlock()
	if ok {
		m.post(e)
	}
}

// ChargerOnline tells the Manager a charger connected (again): limits it
// could not receive are sent now.
func (m *Manager) ChargerOnline(id string) { m.post(presence{charger: id, online: true}) }

// ChargerOffline tells the Manager a charger's connection ended: its
// connectors are counted at their maximum until it is back.
func (m *Manager) ChargerOffline(id string) { m.post(presence{charger: id}) }

// PutSite validates and stores a site and re-allocates it.
func (m *Manager) PutSite(ctx context.Context, s Site) (Site, error) {
	s.UpdatedAt = m.cfg.Clock.Now()
	slices.Sort(s.Chargers)
	if s.Chargers == nil {
		s.Chargers = []string{}
	}
	m.mu.Lock()
	err := m.sites.put(ctx, s)
	if err == nil {
		m.index(s)
		// Its status shows the new site at once; the reload that
		// follows re-reads its connectors and re-allocates (allocating
		// before would mix the new site with the old connectors).
		if st := m.site[s.ID]; st != nil {
			st.shown = &s
		}
	}
	m.mu.Unlock()
	if err != nil {
		return Site{}, err
	}
	m.post(siteChanged{id: s.ID})
	return s, nil
}

// DeleteSite removes a site; its chargers are no longer managed.
func (m *Manager) DeleteSite(ctx context.Context, id string) error {
	m.mu.Lock()
	err := m.sites.delete(ctx, id)
	if err == nil {
		m.unindex(id)
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	m.post(siteChanged{id: id})
	return nil
}

// index records a site's chargers (m.mu held).
func (m *Manager) index(s Site) {
	m.unindex(s.ID)
	for _, c := range s.Chargers {
		m.chargerSite[c] = s.ID
	}
}

func (m *Manager) unindex(id string) {
	for c, sid := range m.chargerSite {
		if sid == id {
			delete(m.chargerSite, c)
		}
	}
}

// Run loads the sites and manages them until ctx ends, then waits for the
// limits being sent. It returns nil when ctx ends. It may run again after
// it returned (a cluster node that leads again): each run starts from the
// store, forgetting what the last one knew of limits in force, so the
// connectors are counted at their maximum until their limit is sent again.
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("load management runs already")
	}
	m.restart()
	defer func() {
		m.running.Store(false)
		m.sends.Wait()
	}()
	// A store that fails at start (a database restarting) is retried: the
	// sites must not go unmanaged until the next restart.
	for {
		err := m.reloadAll(ctx)
		if err == nil {
			break
		}
		m.cfg.Log.Error("load management could not load the sites; retrying in 5 s", "err", err)
		if !charging.Sleep(ctx, 5*time.Second) {
			return nil
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var resync <-chan time.Time
	if m.cfg.Resync > 0 {
		t := time.NewTicker(m.cfg.Resync)
		defer t.Stop()
		resync = t.C
	}
	for {
		m.reconcile(ctx)
		m.arm(timer)
		select {
		case <-ctx.Done():
			return nil
		case v := <-m.events:
			m.handle(ctx, v)
			// Take what else is queued before allocating again.
			for more := true; more; {
				select {
				case v := <-m.events:
					m.handle(ctx, v)
				default:
					more = false
				}
			}
		case <-timer.C:
			m.markStale()
		case <-resync:
			if err := m.reloadAll(ctx); err != nil && ctx.Err() == nil {
				m.cfg.Log.Error("load management reload failed", "err", err)
			}
		}
		if m.overflow.Swap(false) {
			m.cfg.Log.Warn("load management fell behind the events; reloading every site")
			if err := m.reloadAll(ctx); err != nil && ctx.Err() == nil {
				m.cfg.Log.Error("load management reload failed", "err", err)
			}
		}
	}
}

// restart forgets what an earlier run knew and what it left queued (m.mu
// is free: the loop is not running).
func (m *Manager) restart() {
	for more := true; more; {
		select {
		case <-m.events:
		default:
			more = false
		}
	}
	m.overflow.Store(false)
	m.mu.Lock()
	clear(m.site)
	clear(m.charger)
	clear(m.announced)
	m.wake = time.Time{}
	m.mu.Unlock()
}

// arm sets the timer to the next rate-limited send or retry.
func (m *Manager) arm(t *time.Timer) {
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	next := m.wake
	m.mu.Unlock()
	d := time.Hour
	if !next.IsZero() {
		d = max(0, next.Sub(now)+time.Millisecond)
	}
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}

// reloadAll loads every site and the state of its chargers.
func (m *Manager) reloadAll(ctx context.Context) error {
	sites, err := m.sites.List(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	clear(m.chargerSite)
	for _, s := range sites {
		m.index(s)
	}
	ids := make(map[string]bool, len(sites))
	for _, s := range sites {
		ids[s.ID] = true
	}
	for id := range m.site {
		ids[id] = true
	}
	m.mu.Unlock()
	for id := range ids {
		if err := m.reloadSite(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// reloadSite (re)reads a site and its chargers' open sessions and connector
// statuses, keeping what is known of connectors still there.
func (m *Manager) reloadSite(ctx context.Context, id string) error {
	cfg, err := m.sites.Get(ctx, id)
	if errors.Is(err, charging.ErrNotFound) {
		m.mu.Lock()
		lifts := m.released(m.site[id], nil)
		delete(m.site, id)
		m.unindex(id)
		m.mu.Unlock()
		m.lift(ctx, lifts)
		return nil
	}
	if err != nil {
		return err
	}
	store := m.core.Store()
	found := map[connKey]*connState{}
	for _, ch := range cfg.Chargers {
		c, err := store.GetCharger(ctx, ch)
		if errors.Is(err, charging.ErrNotFound) {
			continue // configured before it was registered
		}
		if err != nil {
			return fmt.Errorf("site %s: %w", id, err)
		}
		for _, cn := range c.Connectors {
			if cn.ConnectorID > 0 && cn.Status == charging.StatusPreparing {
				k := connKey{ch, cn.ConnectorID}
				found[k] = &connState{key: k, since: cn.StatusAt}
			}
		}
		for _, status := range []charging.SessionStatus{charging.SessionActive, charging.SessionStopping} {
			sess, _, err := store.ListSessions(ctx, charging.SessionFilter{Status: status, ChargerID: ch, Limit: 100})
			if err != nil {
				return fmt.Errorf("site %s: %w", id, err)
			}
			for _, s := range sess {
				k := connKey{ch, s.ConnectorID}
				found[k] = &connState{key: k, charging: true, txID: s.TransactionID, idTag: s.IDTag, since: s.StartedAt, regWh: s.LastRegisterWh}
			}
		}
	}
	m.mu.Lock()
	st := m.site[id]
	if st == nil {
		st = &siteState{conns: map[connKey]*connState{}}
		m.site[id] = st
	}
	lifts := m.released(st, cfg.Chargers)
	defer m.lift(ctx, lifts)
	defer m.mu.Unlock()
	st.cfg, st.shown = cfg, nil
	st.at = m.cfg.Clock.Now()
	st.stale = true
	// The stored site is the truth: a reload that raced with a PutSite
	// (listed before it was stored) is put right here.
	m.index(cfg)
	for k, c := range found {
		if old := st.conns[k]; old != nil && old.charging == c.charging && old.txID == c.txID {
			continue
		}
		st.conns[k] = c
	}
	for k := range st.conns {
		if found[k] == nil {
			delete(st.conns, k)
		}
	}
	for _, ch := range cfg.Chargers {
		if m.charger[ch] == nil {
			m.charger[ch] = &chargerState{}
		}
	}
	return nil
}

// handle applies one loop message.
func (m *Manager) handle(ctx context.Context, v any) {
	switch v := v.(type) {
	case siteChanged:
		if err := m.reloadSite(ctx, v.id); err != nil && ctx.Err() == nil {
			m.cfg.Log.Error("load management: site not reloaded", "site", v.id, "err", err)
		}
	case presence:
		m.mu.Lock()
		cs := m.charger[v.charger]
		if cs != nil {
			cs.offline = !v.online
			if v.online {
				cs.onlines++
			}
		}
		if st := m.siteOf(v.charger); st != nil {
			st.stale = true
			for _, c := range st.conns {
				if c.key.charger != v.charger {
					continue
				}
				if v.online {
					// The charger may have lost what it was sent.
					c.fixed, c.reason, c.retryAt, c.known = false, "", time.Time{}, false
				} else {
					c.fixed, c.reason, c.retryAt = true, "offline", time.Time{}
				}
			}
		}
		m.mu.Unlock()
	case sendDone:
		m.sent(v)
	case charging.Event:
		m.event(ctx, v)
	}
}

// siteOf returns the site state of a charger (m.mu held).
func (m *Manager) siteOf(charger string) *siteState {
	id, ok := m.chargerSite[charger]
	if !ok {
		return nil
	}
	return m.site[id]
}

func (m *Manager) event(ctx context.Context, e charging.Event) {
	switch e.Kind {
	case charging.ChargerChanged: // booted: whatever it had may be gone
		m.handle(ctx, presence{charger: e.ChargerID, online: true})
	case charging.ConnectorChanged:
		if e.Connector == nil || e.Connector.ConnectorID == 0 {
			return
		}
		k := connKey{e.ChargerID, e.Connector.ConnectorID}
		m.mu.Lock()
		defer m.mu.Unlock()
		st := m.siteOf(e.ChargerID)
		if st == nil {
			return
		}
		st.stale = true
		c := st.conns[k]
		switch e.Connector.Status {
		case charging.StatusPreparing:
			if c == nil {
				st.conns[k] = &connState{key: k, since: e.At}
			}
		case charging.StatusAvailable, charging.StatusUnavailable, charging.StatusFaulted, charging.StatusReserved:
			if c != nil && !c.charging {
				delete(st.conns, k)
			}
		}
	case charging.SessionChanged:
		if e.Session == nil {
			m.telemetry(ctx, e)
			return
		}
		s := e.Session
		k := connKey{e.ChargerID, s.ConnectorID}
		m.mu.Lock()
		defer m.mu.Unlock()
		st := m.siteOf(e.ChargerID)
		if st == nil || s.ConnectorID == 0 {
			return
		}
		st.stale = true
		c := st.conns[k]
		switch {
		case s.Status == charging.SessionActive || s.Status == charging.SessionStopping:
			if c == nil || !c.charging || c.txID != s.TransactionID {
				prev := c
				c = &connState{key: k, charging: true, txID: s.TransactionID, idTag: s.IDTag, since: s.StartedAt, regWh: s.LastRegisterWh}
				if prev != nil && !prev.charging && prev.known {
					// The default limit sent while Preparing is in force.
					c.applied, c.known, c.changedAt = prev.applied, true, prev.changedAt
				}
				if prev != nil {
					c.fixed, c.reason, c.retryAt = prev.fixed, prev.reason, prev.retryAt
				}
				st.conns[k] = c
			}
		case s.Status.Final():
			if c != nil && c.charging && c.txID == s.TransactionID {
				delete(st.conns, k)
			}
		}
	}
}

// telemetry folds a MeterValues into the connector's measured draw: the
// reported Power.Active.Import, else the energy register's slope.
func (m *Manager) telemetry(ctx context.Context, e charging.Event) {
	sess, err := m.core.Store().SessionByTransaction(ctx, e.ChargerID, e.TransactionID)
	if err != nil {
		return
	}
	k := connKey{e.ChargerID, sess.ConnectorID}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.siteOf(e.ChargerID)
	if st == nil {
		return
	}
	c := st.conns[k]
	if c == nil || !c.charging || c.txID != sess.TransactionID {
		return
	}
	var draw float64
	switch {
	case sess.LastPowerKW != nil:
		draw = *sess.LastPowerKW * 1000
	case !c.regAt.IsZero() && e.At.After(c.regAt) && sess.LastRegisterWh >= c.regWh:
		draw = (sess.LastRegisterWh - c.regWh) * 3600 / e.At.Sub(c.regAt).Seconds()
	default:
		c.regWh, c.regAt = sess.LastRegisterWh, e.At
		return
	}
	c.regWh, c.regAt = sess.LastRegisterWh, e.At
	moved := !c.hasDraw || math.Abs(draw-c.drawW) >= m.cfg.DrawThresholdW
	c.drawAt, c.hasDraw = e.At, true
	if moved {
		c.drawW = draw
		st.dirty, st.stale = true, true
	}
	if m.measured(c) != c.wasMeasured {
		st.stale = true
	}
}

// measured says whether the connector's draw can be trusted: measured once
// the vehicle had time to ramp up after it started, and after its limit was
// last raised (a draw below a lowered limit is the vehicle's own).
func (m *Manager) measured(c *connState) bool {
	if !c.hasDraw || !c.known {
		return false
	}
	settled := c.since
	if !c.lowered && c.changedAt.After(settled) {
		settled = c.changedAt
	}
	return !c.drawAt.Before(settled.Add(m.cfg.Settle))
}

// wantsSend says whether the connector's target differs from what is in
// force (or being sent).
func (c *connState) wantsSend(minChange float64) bool {
	if c.fixed || c.sending {
		return false
	}
	if !c.known {
		return true
	}
	if (c.target == 0) != (c.applied == 0) {
		return true
	}
	return math.Abs(c.target-c.applied) >= minChange
}

// worst is the most the connector may draw under the limits in force or
// being sent: its maximum when uncontrolled or not yet limited.
func (c *connState) worst(maxW float64) float64 {
	if c.fixed || !c.known {
		return maxW
	}
	w := c.applied
	if c.sending {
		w = math.Max(w, c.sendingW)
	}
	return w
}

// reconcile allocates every site and sends the limits that may be sent now.
func (m *Manager) reconcile(ctx context.Context) {
	now := m.cfg.Clock.Now()
	var changed []SiteStatus
	var sends []ChargingLimit
	m.mu.Lock()
	ids := make([]string, 0, len(m.site))
	for id := range m.site {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		st := m.site[id]
		if !st.stale {
			continue
		}
		// Retries that are due.
		for _, c := range st.conns {
			if c.fixed && !c.retryAt.IsZero() {
				if now.Before(c.retryAt) {
					m.wakeAt(c.retryAt)
				} else {
					c.fixed, c.reason, c.retryAt, c.known = false, "", time.Time{}, false
				}
			}
		}
		if m.allocate(st) || st.dirty {
			st.dirty = false
			changed = append(changed, m.status(st, now))
		}
		out, waiting := m.dispatch(st, now)
		sends = append(sends, out...)
		st.stale = waiting
	}
	m.mu.Unlock()
	for _, l := range sends {
		m.send(ctx, l)
	}
	if m.cfg.OnChange != nil {
		for _, s := range changed {
			m.cfg.OnChange(s)
		}
	}
}

// allocate recomputes a site's targets and reports whether any changed
// (m.mu held).
func (m *Manager) allocate(st *siteState) bool {
	keys := st.sortedKeys()
	in := make([]Connector, len(keys))
	for i, k := range keys {
		c := st.conns[k]
		in[i] = Connector{Key: k.String(), MaxW: st.cfg.ConnectorMaxW(k.charger), Phases: 3,
			Priority: st.cfg.Priority(k.charger, k.conn, c.idTag), Since: c.since,
			DrawW: c.drawW, Measured: m.measured(c), Fixed: c.fixed}
		c.wasMeasured = in[i].Measured
		if c.known {
			in[i].PrevLimitW = c.applied
		}
	}
	res := Allocate(st.cfg.grid(), in)
	changed := !resultEqual(st.res, res)
	st.res = res
	for i, k := range keys {
		c := st.conns[k]
		c.target, c.paused = res.Connectors[i].LimitW, res.Connectors[i].Paused
	}
	return changed
}

func resultEqual(a, b Result) bool {
	return a.LimitW == b.LimitW && a.ReservedW == b.ReservedW && slices.Equal(a.Connectors, b.Connectors)
}

func (st *siteState) sortedKeys() []connKey {
	keys := make([]connKey, 0, len(st.conns))
	for k := range st.conns {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b connKey) int {
		if d := strings.Compare(a.charger, b.charger); d != 0 {
			return d
		}
		return a.conn - b.conn
	})
	return keys
}

// dispatch picks the limits to send now: every lowering, and a raise only
// when the others' worst case leaves room for it (m.mu held). waiting says
// some limit had to wait (rate limit, a raise behind a lowering).
func (m *Manager) dispatch(st *siteState, now time.Time) (out []ChargingLimit, waiting bool) {
	limit := st.res.LimitW
	keys := st.sortedKeys()
	total := 0.0
	for _, k := range keys {
		total += st.conns[k].worst(st.cfg.ConnectorMaxW(k.charger))
	}
	// Lowerings first, then raises.
	for pass := 0; pass < 2; pass++ {
		for _, k := range keys {
			c := st.conns[k]
			if !c.wantsSend(m.cfg.MinChangeW) {
				continue
			}
			maxW := st.cfg.ConnectorMaxW(k.charger)
			cur := c.worst(maxW)
			lowering := c.target <= cur
			if (pass == 0) != lowering {
				continue
			}
			if !lowering && total-cur+c.target > limit+1e-6 {
				waiting = true // for the lowerings to be confirmed
				continue
			}
			cs := m.charger[k.charger]
			if cs == nil {
				cs = &chargerState{}
				m.charger[k.charger] = cs
			}
			if cs.busy || now.Before(cs.next) || cs.offline {
				if !cs.busy && !cs.offline {
					m.wakeAt(cs.next)
				}
				waiting = true
				continue
			}
			cs.busy, cs.next = true, now.Add(m.cfg.RateInterval)
			c.sending, c.sendingW, c.sendOnlines = true, c.target, cs.onlines
			if c.charging {
				c.sendTx = c.txID
			} else {
				c.sendTx = ""
			}
			total += c.worst(maxW) - cur
			out = append(out, ChargingLimit{ChargerID: k.charger, ConnectorID: k.conn, TransactionID: c.sendTx, LimitW: c.target, Phases: 3})
		}
	}
	return out, waiting
}

// send calls the Limiter in the background and posts the result to the
// loop.
func (m *Manager) send(ctx context.Context, l ChargingLimit) {
	m.sends.Add(1)
	go func() {
		defer m.sends.Done()
		cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
		err := m.limiter.SetChargingLimit(cctx, l)
		cancel()
		switch {
		case errors.Is(err, charging.ErrNotConnected):
			// It went away (and is counted offline when its
			// disconnection arrives): nothing an operator must act on.
			m.cfg.Log.Info("charging limit not applied: the charger is not connected; counting the connector at its maximum",
				"charger", l.ChargerID, "connector", l.ConnectorID, "limit_w", l.LimitW)
		case err != nil:
			m.cfg.Log.Warn("charging limit not applied; counting the connector at its maximum",
				"charger", l.ChargerID, "connector", l.ConnectorID, "limit_w", l.LimitW, "err", err)
		}
		// Posted even after ctx ended: the loop is gone then and nobody
		// reads, so never block.
		select {
		case m.events <- sendDone{key: connKey{l.ChargerID, l.ConnectorID}, limitW: l.LimitW, tx: l.TransactionID, err: err}:
		default:
			m.overflow.Store(true)
		}
	}()
}

// staleRouteRetry is when a limit is sent again to a charger that was
// not connected where it was sent while the Manager heard it online.
const staleRouteRetry = 5 * time.Second

// sent records a send's outcome.
func (m *Manager) sent(d sendDone) {
	now := m.cfg.Clock.Now()
	var changed []SiteStatus
	m.mu.Lock()
	cs := m.charger[d.key.charger]
	if cs != nil {
		cs.busy = false
	}
	if st := m.siteOf(d.key.charger); st != nil {
		st.stale = true
		if c := st.conns[d.key]; c != nil && c.sending {
			c.sending = false
			switch {
			case d.err != nil && cs != nil && cs.onlines != c.sendOnlines && !cs.offline:
				// The charger came online (on another node, after its
				// node died) while the send was in flight to where it
				// was: its coming online found the send pending, so it is
				// sent again at once rather than after RetryInterval.
				c.fixed, c.reason, c.retryAt, c.known = false, "", time.Time{}, false
			case d.err != nil:
				retry := m.cfg.RetryInterval
				if errors.Is(d.err, charging.ErrNotConnected) && cs != nil && !cs.offline {
					// Not connected where it was sent, yet online as far
					// as the Manager heard: its route is stale (its node
					// died and it came online elsewhere before the send).
					// Soon, not after RetryInterval, which is for a
					// charger that rejects its limit.
					retry = min(retry, staleRouteRetry)
				}
				c.fixed, c.reason, c.retryAt, c.known = true, d.err.Error(), now.Add(retry), false
				m.wakeAt(c.retryAt)
			case d.tx == "" && c.charging:
				// A default sent while Preparing; the transaction that
				// started meanwhile gets its own.
				c.known = false
			default:
				c.lowered = !c.known || d.limitW < c.applied
				c.applied, c.known, c.changedAt = d.limitW, true, now
			}
			changed = append(changed, m.status(st, now))
		}
	}
	m.mu.Unlock()
	if m.cfg.OnChange != nil {
		for _, s := range changed {
			m.cfg.OnChange(s)
		}
	}
}

// markStale makes every site be allocated again (the wake timer fired: a
// rate limit or a retry ran out).
func (m *Manager) markStale() {
	m.mu.Lock()
	m.wake = time.Time{}
	for _, st := range m.site {
		st.stale = true
	}
	m.mu.Unlock()
}

// released returns, for the charging connectors of st whose charger is
// not in keep (the site was deleted, or the charger left it), a limit at
// their maximum: the limit load management had put on them would otherwise
// stay in force until their transaction ends (m.mu held).
func (m *Manager) released(st *siteState, keep []string) []ChargingLimit {
	if st == nil {
		return nil
	}
	var out []ChargingLimit
	for _, k := range st.sortedKeys() {
		c := st.conns[k]
		maxW := st.cfg.ConnectorMaxW(k.charger)
		if slices.Contains(keep, k.charger) || !c.charging || !c.known || c.applied >= maxW {
			continue
		}
		out = append(out, ChargingLimit{ChargerID: k.charger, ConnectorID: k.conn, TransactionID: c.txID, LimitW: maxW, Phases: 3})
		delete(st.conns, k)
	}
	return out
}

// lift sends the limits released returned; their outcome only matters to
// the log, as the connectors are no longer managed.
func (m *Manager) lift(ctx context.Context, ls []ChargingLimit) {
	for _, l := range ls {
		m.send(ctx, l)
	}
}
