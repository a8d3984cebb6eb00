package ocpi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// EventsConsumer is the OCPI module's durable consumer of the core's event
// log.
const EventsConsumer = "ocpi"

// The event worker turns the core's events into pushes. Status, connector
// and charger changes come from the core's event log (charging.EventPort),
// read as the durable consumer EventsConsumer: an event is acknowledged
// once its pushes are queued in the outbox, so a change made while the
// process was down, or whose handling failed (retried with backoff), is
// still pushed. Meter-value events come from the core's in-process feed,
// folded into one "dirty" mark per transaction; the worker then, per event:
//   - connector status changed: PATCH the EVSE's status at every eMSP (or
//     PUT the whole Location if the EVSE was never pushed);
//   - charger booted: PUT its Location if it was never pushed;
//   - session created: PUT the Session; changed: PATCH what changed; meter
//     values: PATCH kwh (and new charging periods) at most once per
//     SessionPatchInterval;
//   - session ended: also issue its CDR and POST it.
//
// Every push goes through the outbox, which makes it durable before it is
// sent. Meter values marked but not yet pushed when the process stopped are
// pushed with the session's next change (its stop at the latest); reconcile
// at start also compares the stored Session views with the core's sessions,
// for sessions that changed before the log existed.

// txRef names a transaction: its id is unique per charger only.
type txRef struct{ charger, tx string }

// evQueue is the telemetry listener's queue.
type evQueue struct {
	// mu guards the fields below.
	mu        sync.Mutex
	telemetry map[txRef]bool
	signal    chan struct{}
}

// locPushed is the set of a charger's EVSEs (connector ids) eMSPs were
// sent and the Location they were in, kind ocpi_locpushed.
type locPushed struct {
	// Location is empty in documents stored before sites were Locations:
	// the charger's own.
	Location   string `json:"location,omitempty"`
	Connectors []int  `json:"connectors"`
}

// pushedEVSEs is a charger's locPushed as the worker keeps it.
type pushedEVSEs struct {
	loc   string
	conns map[int]bool
}

func (lp locPushed) known() pushedEVSEs {
	k := pushedEVSEs{loc: lp.Location, conns: map[int]bool{}}
	for _, n := range lp.Connectors {
		k.conns[n] = true
	}
	return k
}

const docLocPushed = "ocpi_locpushed"

// reconcileWindow bounds how far back reconcile looks for sessions
// without a stored view.
const reconcileWindow = 24 * time.Hour

// worker state, shared by the log consumer and the telemetry flush under
// mu.
type evState struct {
	mu        sync.Mutex
	lastPatch map[txRef]time.Time // transaction → last telemetry PATCH (wall clock)
	evse      map[string]EVSEStatus
	locs      map[string]pushedEVSEs // charger → its EVSEs pushed
	// laidOut is when the layout was last compared with the sites.
	laidOut time.Time
}

func (c *CPO) startEvents() error {
	ep := c.cfg.Events
	if ep == nil {
		ep, _ = c.store.(charging.EventPort)
	}
	if ep == nil {
		return errors.New("ocpi needs a store with an event log")
	}
	c.evq = &evQueue{telemetry: map[txRef]bool{}, signal: make(chan struct{}, 1)}
	c.svc.Subscribe(c.onEvent)
	st := &evState{lastPatch: map[txRef]time.Time{}, evse: map[string]EVSEStatus{}, locs: map[string]pushedEVSEs{}}
	c.goBG(func(ctx context.Context) { c.runEvents(ctx, st, ep) })
	c.goBG(func(ctx context.Context) { c.runTelemetry(ctx, st) })
	return nil
}

// onEvent is the core's in-process listener: it marks the transactions
// whose meter values changed and returns.
func (c *CPO) onEvent(e charging.Event) {
	if c.ctx.Err() != nil || e.Kind != charging.SessionChanged || e.Session != nil || e.TransactionID == "" {
		return
	}
	q := c.evq
	tx := txRef{e.ChargerID, e.TransactionID}
	q.mu.Lock()
	marked := q.telemetry[tx]
	if !marked {
		q.telemetry[tx] = true
	}
	q.mu.Unlock()
	// A transaction marked already stays marked until it is due, and the
	// ticker comes back to it then. Waking the flush for it scanned every
	// marked transaction on every MeterValues (about 5 % of the server's
	// CPU under saturation, #16).
	if !marked {
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
}

// ReconcileJob is the charging.Elector job name of the reconciliation at
// start.
const ReconcileJob = "ocpi reconcile"

// runEvents reconciles, then consumes the event log until ctx ends.
//
// The reconciliation runs once per cluster: when the store is an Elector
// (nodes sharing a database), only the node that leads ReconcileJob runs
// it, at its start; the others skip it. It is not safe twice at once: two
// nodes could both find a session without a stored view and both push it
// (and its CDR), while events are pushed once (the durable consumer hands
// each to one node). Once the log has every change, the leader's pass at
// start is all that is needed: a node that dies loses no event (it was
// not acknowledged), so a new leader has nothing to reconcile for it.
func (c *CPO) runEvents(ctx context.Context, st *evState, ep charging.EventPort) {
	lead := true
	if el, ok := c.store.(charging.Elector); ok {
		var err error
		if lead, err = el.Lead(ctx, ReconcileJob); err != nil && ctx.Err() == nil {
			c.log.Warn("ocpi: cannot tell whether this node leads the reconciliation; it skips it", "err", err)
		}
	}
	st.mu.Lock()
	c.sitesChanged.Store(false)
	c.layoutChanged(ctx, st)
	st.mu.Unlock()
	if lead {
		st.mu.Lock()
		err := c.reconcile(ctx, st)
		st.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			c.log.Error("ocpi: reconciling sessions at start failed", "err", err)
		}
	}
	err := ep.Consume(ctx, EventsConsumer, func(ctx context.Context, e charging.Event) error {
		st.mu.Lock()
		defer st.mu.Unlock()
		return c.handleEvent(ctx, st, e)
	})
	if err != nil && ctx.Err() == nil {
		c.fail(fmt.Errorf("the event consumer stopped: %w", err))
	}
}

// runTelemetry pushes marked meter values until ctx ends.
func (c *CPO) runTelemetry(ctx context.Context, st *evState) {
	tick := time.NewTicker(max(c.cfg.SessionPatchInterval/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.evq.signal:
		case <-tick.C:
		}
		st.mu.Lock()
		if c.sitesChanged.Swap(false) || time.Since(st.laidOut) >= c.cfg.SyncInterval {
			c.layoutChanged(ctx, st)
		}
		c.flushTelemetry(ctx, st)
		st.mu.Unlock()
	}
}

// handleEvent queues the pushes an event of the log calls for; an error
// (the store failed) has the event delivered again.
func (c *CPO) handleEvent(ctx context.Context, st *evState, e charging.Event) error {
	var err error
	switch e.Kind {
	case charging.ConnectorChanged:
		if e.Connector != nil {
			err = c.connectorChanged(ctx, st, e.ChargerID, *e.Connector, e.At)
		}
	case charging.ChargerChanged:
		err = c.ensureLocation(ctx, st, e.ChargerID, 0)
	case charging.SessionChanged:
		// The session as it is now: the event only names it.
		s, gerr := c.store.GetSession(ctx, e.SessionID)
		if errors.Is(gerr, charging.ErrNotFound) {
			return nil
		}
		if gerr != nil {
			return gerr
		}
		err = c.sessionChanged(ctx, st, s, false)
	}
	if err != nil && ctx.Err() == nil {
		c.log.Error("ocpi: event not pushed; it is delivered again", "kind", e.Kind, "charger", e.ChargerID, "session", e.SessionID, "err", err)
		return fmt.Errorf("ocpi: %s event %s: %w", e.Kind, e.ID, err)
	}
	return nil
}

// layoutChanged publishes the Locations the sites changed (syncLayout;
// st.mu held).
func (c *CPO) layoutChanged(ctx context.Context, st *evState) {
	st.laidOut = time.Now()
	if err := c.syncLayout(ctx, st); err != nil && ctx.Err() == nil {
		c.log.Error("ocpi: locations of changed sites not pushed", "err", err)
	}
}

// flushTelemetry pushes the meter values of sessions whose last PATCH is
// at least SessionPatchInterval old; the others stay marked.
func (c *CPO) flushTelemetry(ctx context.Context, st *evState) {
	due := c.dueTelemetry(st, c.now())
	slices.SortFunc(due, func(a, b txRef) int {
		if c := strings.Compare(a.charger, b.charger); c != 0 {
			return c
		}
		return strings.Compare(a.tx, b.tx)
	})
	for _, tx := range due {
		s, err := c.store.SessionByTransaction(ctx, tx.charger, tx.tx)
		if err == nil {
			err = c.sessionChanged(ctx, st, s, true)
		}
		if err != nil && ctx.Err() == nil {
			c.log.Error("ocpi: meter values not pushed", "charger", tx.charger, "tx", tx.tx, "err", err)
		}
	}
}

// dueTelemetry takes the marked transactions whose last PATCH is at least
// SessionPatchInterval old at now; the others stay marked (st.mu held).
func (c *CPO) dueTelemetry(st *evState, now time.Time) []txRef {
	c.evq.mu.Lock()
	defer c.evq.mu.Unlock()
	var due []txRef
	for tx := range c.evq.telemetry {
		last, ok := st.lastPatch[tx]
		if !ok {
			// Never pushed from here: the session's first push (by its
			// event, here or on another node) sends what there is, so
			// the interval runs from now. Pushing at once built every
			// new session's view twice within a second of its start.
			st.lastPatch[tx] = now
			continue
		}
		if now.Sub(last) >= c.cfg.SessionPatchInterval {
			due = append(due, tx)
			delete(c.evq.telemetry, tx)
		}
	}
	return due
}

// sessionChanged brings eMSPs and the stored view up to date with s.
func (c *CPO) sessionChanged(ctx context.Context, st *evState, s charging.Session, telemetry bool) error {
	prev, found, err := c.storedSession(ctx, s.ID)
	if err != nil {
		return err
	}
	var pp *Session
	if found {
		pp = &prev
	}
	view, err := c.sessionView(ctx, s, pp)
	if err != nil {
		return err
	}
	path := c.objectPath(s.ID)
	if !found {
		if err := c.pushWhole(ctx, "sessions", "session "+s.ID, path, view); err != nil {
			return err
		}
	} else {
		patch := sessionPatch(prev, view)
		if len(patch) == 1 {
			// Only last_updated moved (or not even that): nothing an eMSP
			// would see. The stored view stays as pushed.
			if s.Status.Final() && cdrDue(s) {
				return c.issueCDR(ctx, s, prev)
			}
			return nil
		}
		if err := c.pushPatch(ctx, "sessions", "session "+s.ID, path, patch, path, func() (any, error) { return view, nil }); err != nil {
			return err
		}
	}
	if s.TransactionID != "" {
		if s.Status.Final() {
			delete(st.lastPatch, txRef{s.ChargerID, s.TransactionID})
		} else if telemetry || !found {
			st.lastPatch[txRef{s.ChargerID, s.TransactionID}] = c.now()
		}
	}
	return c.finishSession(ctx, s, view)
}

// finishSession issues the CDR of an ended session (before its view is
// stored as final, so a crash in between is caught by reconcile) and
// stores the view.
func (c *CPO) finishSession(ctx context.Context, s charging.Session, view Session) error {
	if s.Status.Final() && cdrDue(s) {
		if err := c.issueCDR(ctx, s, view); err != nil {
			return err
		}
	}
	return c.storeSession(ctx, view, s.Status.Final())
}

// connectorChanged PATCHes an EVSE's status when its OCPI status changed.
func (c *CPO) connectorChanged(ctx context.Context, st *evState, chargerID string, cn charging.Connector, at time.Time) error {
	if cn.ConnectorID < 1 {
		return nil // the charger as a whole: its EVSEs report their own
	}
	uid := EVSEUID(chargerID, cn.ConnectorID)
	status := EVSEStatusOf(cn)
	if st.evse[uid] == status {
		return nil
	}
	locID, pushedWhole, err := c.ensureLocationFor(ctx, st, chargerID, cn.ConnectorID)
	if err != nil {
		return err
	}
	st.evse[uid] = status
	if pushedWhole {
		return nil
	}
	body := map[string]any{"status": status, "last_updated": DateTime(cn.UpdatedAt)}
	return c.pushPatch(ctx, "locations", "evse "+uid, c.objectPath(locID)+"/"+uid, body, c.objectPath(locID),
		func() (any, error) { return c.location(ctx, locID) })
}

func (c *CPO) ensureLocation(ctx context.Context, st *evState, chargerID string, connectorID int) error {
	_, _, err := c.ensureLocationFor(ctx, st, chargerID, connectorID)
	return err
}

// pushedOf is what eMSPs were sent of a charger's EVSEs.
func (c *CPO) pushedOf(ctx context.Context, st *evState, chargerID string) (pushedEVSEs, error) {
	if k, ok := st.locs[chargerID]; ok {
		return k, nil
	}
	var lp locPushed
	d, err := c.docs.GetDoc(ctx, docLocPushed, chargerID)
	switch {
	case err == nil:
		_ = json.Unmarshal(d.Body, &lp)
		if lp.Location == "" && len(lp.Connectors) > 0 {
			lp.Location = chargerID
		}
	case errors.Is(err, charging.ErrNotFound):
	default:
		return pushedEVSEs{}, err
	}
	k := lp.known()
	st.locs[chargerID] = k
	return k, nil
}

// ensureLocationFor PUTs the whole Location a charger's EVSEs are in when
// eMSPs were never sent it, or not this connector's EVSE in it; it returns
// the Location's id and whether it did.
func (c *CPO) ensureLocationFor(ctx context.Context, st *evState, chargerID string, connectorID int) (string, bool, error) {
	l, err := c.layout(ctx)
	if err != nil {
		return "", false, err
	}
	locID := l.locationID(chargerID)
	known, err := c.pushedOf(ctx, st, chargerID)
	if err != nil {
		return "", false, err
	}
	if known.loc != "" && known.loc != locID {
		// Its site changed since its EVSEs were pushed: publish the new
		// layout (which tells the Location they left), then look again.
		c.layoutChanged(ctx, st)
		delete(st.locs, chargerID)
		if known, err = c.pushedOf(ctx, st, chargerID); err != nil {
			return "", false, err
		}
	}
	if known.loc == locID && len(known.conns) > 0 && (connectorID == 0 || known.conns[connectorID]) {
		return locID, false, nil
	}
	loc, err := c.location(ctx, locID)
	if err != nil {
		return "", false, err
	}
	if err := c.putLocation(ctx, st, loc); err != nil {
		return "", false, err
	}
	k, ok := st.locs[chargerID]
	if !ok || k.loc != locID {
		k = pushedEVSEs{loc: locID, conns: map[int]bool{}}
		st.locs[chargerID] = k
	}
	k.conns[connectorID] = true
	return locID, true, nil
}

// reconcile recovers what the worker had not pushed when the process
// stopped: sessions whose stored view is open and behind the core, and
// the newest sessions that have no stored view at all.
func (c *CPO) reconcile(ctx context.Context, st *evState) error {
	var open []string
	for off := 0; ; {
		docs, total, err := c.docs.ListDocs(ctx, charging.DocQuery{Kind: docSession, Owner: sessionOpen, Offset: off, Limit: 500})
		if err != nil {
			return err
		}
		for _, d := range docs {
			open = append(open, d.ID)
		}
		off += len(docs)
		if len(docs) == 0 || off >= total {
			break
		}
	}
	for _, id := range open {
		s, err := c.store.GetSession(ctx, id)
		if err != nil {
			if errors.Is(err, charging.ErrNotFound) {
				continue
			}
			return err
		}
		prev, _, err := c.storedSession(ctx, id)
		if err != nil {
			return err
		}
		if SessionStatusOf(s.Status) != prev.Status || s.LastUpdated.After(time.Time(prev.LastUpdated)) || s.Status.Final() {
			if err := c.sessionChanged(ctx, st, s, false); err != nil {
				return err
			}
		}
	}
	// Newest first, until a run of sessions that all have views (events
	// are handled in commit order, so older ones were handled) or
	// sessions older than reconcileWindow (a database that had sessions
	// before OCPI was set up does not send eMSPs its history).
	const enough = 20
	cutoff := c.now().Add(-reconcileWindow)
	seen, cursor := 0, ""
	for seen < enough {
		page, next, err := c.store.ListSessions(ctx, charging.SessionFilter{Limit: 100, Cursor: cursor})
		if err != nil {
			return err
		}
		var missing []charging.Session
		for _, s := range page {
			if s.StartedAt.Before(cutoff) && s.LastUpdated.Before(cutoff) {
				seen = enough
				break
			}
			if _, found, err := c.storedSession(ctx, s.ID); err != nil {
				return err
			} else if found {
				if seen++; seen >= enough {
					break
				}
				continue
			}
			seen = 0
			missing = append(missing, s)
		}
		// Oldest first, as they happened.
		for i := len(missing) - 1; i >= 0; i-- {
			if err := c.sessionChanged(ctx, st, missing[i], false); err != nil {
				return err
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	return nil
}
