package server

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/beckn"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/cluster"
	"github.com/chargebridge/chargebridge/internal/loadmgmt"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp16"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp201"
	"github.com/chargebridge/chargebridge/internal/web"
)

// setupLimits wraps the command port so that the limits load management
// sends (in W, RequestedBy loadmgmt.RequestedBy) are put, on the node that
// holds the charger's socket, in the unit and at the stack level the
// charger takes, asked the way of its protocol. It runs before the node
// joins a cluster: the cluster's router forwards a limit to the holding
// node's local port, where the charger can be asked.
func (s *Server) setupLimits(clock charging.Clock) {
	s.limitCaps = map[string]*ocpp16.LimitCaps{
		ocpp16.Subprotocol:  ocpp16.NewLimitCaps(s.cmd, clock.Now),
		ocpp201.Subprotocol: ocpp16.NewLimitCapsAsking(ocpp201.AskLimitCaps(s.cmd201), clock.Now),
	}
	s.commands = limitCommands{Commands: s.commands, caps: s.limitCaps, protocol: s.ocpp.Protocol}
}

// setupLoad builds site load management: sites kept as documents, limits
// sent as charging profiles through the command port (1.6 or 2.0.1, the
// charger's protocol). In a cluster it hears the changes of every node's
// chargers and runs on one node (runLoad).
func (s *Server) setupLoad(clock charging.Clock, adjust func(*loadmgmt.Config)) {
	docs, err := s.svc.Docs()
	if err != nil {
		s.log.Warn("no site load management: the store keeps no documents", "err", err)
		return
	}
	cfg := loadmgmt.Config{Clock: clock, Log: s.log.With("part", "loadmgmt")}
	var core loadmgmt.Core = s.svc
	if s.clusterEvents != nil {
		core = clusterLoadCore{s.svc}
		s.loadStatuses = &statusAnnouncer{pending: map[string]loadmgmt.SiteStatus{}}
		// A notice missed, or a change made while the leader's feeds were
		// being subscribed, is caught up from the store.
		cfg.Resync = 30 * time.Second
	}
	if adjust != nil {
		adjust(&cfg)
	}
	extra := cfg.OnChange
	cfg.OnChange = func(st loadmgmt.SiteStatus) {
		if s.loadStatuses != nil {
			s.loadStatuses.add(st)
		}
		if extra != nil {
			extra(st)
		}
	}
	s.load = loadmgmt.NewManager(core, docs, limiterPort{cmds: s.commands}, cfg)
}

// Load returns the site load manager (nil when the store keeps no
// documents).
func (s *Server) Load() *loadmgmt.Manager { return s.load }

// loadJob is the charging.Elector job of site load management in a
// cluster, and loadLeadCheck how often a node asks to lead it (the leader:
// whether it still does).
const (
	loadJob       = "site load management"
	loadLeadCheck = time.Second
	// loadNotices is the cluster notice topic of site changes and charger
	// presence (cluster.Node.Notify), loadStatus the one of the leader's
	// site statuses.
	loadNotices = "loadmgmt"
	loadStatus  = "loadmgmt-status"
)

// runLoad runs site load management. Alone, the Manager runs here and
// hears this node's events in process. In a cluster (--nats, a store
// that elects) it runs on the one node that leads loadJob, fed with every
// node's changes; another node takes over within loadLeadCheck of the
// leader's database connection dropping, and its Manager starts from the
// sites and open sessions in the store.
func (s *Server) runLoad(ctx context.Context) error {
	el, ok := s.store.(charging.Elector)
	if s.clusterEvents == nil || !ok {
		return s.load.Run(ctx)
	}
	// While another node runs it, its statuses are shown here.
	stop, err := s.cluster.node.SubscribeNotices(loadStatus, func(data []byte) {
		var st loadmgmt.SiteStatus
		if json.Unmarshal(data, &st) == nil && st.ID != "" {
			s.load.Announced(st)
		}
	})
	if err != nil {
		s.log.Warn("site load management: this node shows no allocations while another node runs it", "err", err)
	} else {
		defer stop()
	}
	failing := false
	for {
		lead, err := el.Lead(ctx, loadJob)
		if err != nil && !failing && ctx.Err() == nil {
			s.log.Warn("site load management: cannot tell whether this node leads it; asking again", "err", err)
		}
		failing = err != nil
		if lead {
			s.log.Info("site load management runs on this node")
			if err := s.leadLoad(ctx, el); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("this node no longer leads site load management")
		}
		if !charging.Sleep(ctx, loadLeadCheck) {
			return nil
		}
	}
}

// leadLoad runs the Manager while this node leads loadJob, fed with the
// cluster's event stream (every node's session, connector and charger
// changes, in commit order), the other nodes' live meter values (this
// node's own come in process, clusterLoadCore) and the load notices.
func (s *Server) leadLoad(ctx context.Context, el charging.Elector) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	node := s.cluster.node
	stopLive, err := node.SubscribeLive(s.load.Hear)
	if err != nil {
		s.log.Warn("site load management: not led for now", "err", err)
		return nil
	}
	defer stopLive()
	stopNotices, err := node.SubscribeNotices(loadNotices, s.loadNotice)
	if err != nil {
		s.log.Warn("site load management: not led for now", "err", err)
		return nil
	}
	defer stopNotices()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = s.clusterEvents.Consume(lctx, "", s.hearForLoad) })
	wg.Go(func() { s.loadStatuses.run(lctx, node) })
	wg.Go(func() { s.watchNodes(lctx) })
	wg.Go(func() {
		t := time.NewTicker(loadLeadCheck)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
			}
			if still, _ := el.Lead(lctx, loadJob); !still {
				cancel()
				return
			}
		}
	})
	return s.load.Run(lctx)
}

// nodeWatch is how often the leader of site load management lists the
// cluster's nodes, to see one whose heartbeat expired.
const nodeWatch = time.Second

// watchNodes, on the node that leads site load management, takes a node
// whose heartbeat expired (it died: it sent no disconnect notices) as the
// disconnection of every site charger no live node holds: such a charger
// is counted offline, as after a disconnect notice, unless it connected
// to another node (then it is held there, and that node's notice said
// so). The same is done once when this node takes the lead, for the
// chargers of nodes that died before. It costs a presence lookup per
// site charger, only then.
func (s *Server) watchNodes(ctx context.Context) {
	var last map[string]string // node → run
	check := true
	for charging.Sleep(ctx, nodeWatch) {
		nodes, err := s.cluster.node.Nodes(ctx)
		if err != nil {
			continue
		}
		now := make(map[string]string, len(nodes))
		for _, n := range nodes {
			now[n.ID] = n.Run
		}
		for id, run := range last {
			if now[id] != run {
				s.log.Info("site load management: a node is gone; its chargers no node holds are counted offline", "node", id)
				check = true
			}
		}
		last = now
		if check {
			check = s.offlineUnheld(ctx) != nil
		}
	}
}

// offlineUnheld tells the load manager that the site chargers no live node
// holds are offline.
func (s *Server) offlineUnheld(ctx context.Context) error {
	sites, err := s.load.Sites().List(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("site load management: sites not listed; the chargers of a node that died are looked at again", "err", err)
		}
		return err
	}
	held := func(id string) (bool, error) {
		if s.ocpp.Connected(id) {
			return true, nil
		}
		_, ok, err := s.cluster.node.Holder(ctx, id)
		return ok, err
	}
	for _, site := range sites {
		for _, id := range site.Chargers {
			ok, err := held(id)
			if err != nil {
				return err // NATS does not answer: looked at again
			}
			if ok {
				continue
			}
			s.load.ChargerOffline(id)
			// A charger that connected while it was looked up is online:
			// its notice may have come before the offline mark.
			if ok, err := held(id); err == nil && ok {
				s.load.ChargerOnline(id)
			}
		}
	}
	return nil
}

// statusAnnouncer sends the other nodes the site statuses of the node that
// runs load management: the latest of each site, at most once a second (a
// site of many connectors changes with each limit confirmed).
type statusAnnouncer struct {
	mu      sync.Mutex
	pending map[string]loadmgmt.SiteStatus
}

func (a *statusAnnouncer) add(st loadmgmt.SiteStatus) {
	a.mu.Lock()
	a.pending[st.ID] = st
	a.mu.Unlock()
}

func (a *statusAnnouncer) run(ctx context.Context, node *cluster.Node) {
	for charging.Sleep(ctx, time.Second) {
		a.mu.Lock()
		out := a.pending
		a.pending = map[string]loadmgmt.SiteStatus{}
		a.mu.Unlock()
		for _, st := range out {
			if data, err := json.Marshal(st); err == nil {
				node.Notify(loadStatus, data)
			}
		}
	}
}

// hearForLoad hands the leader's Manager a change from the cluster's
// stream. A session event that came without its session (an older node's)
// is read as the session is now; one that cannot be read is skipped (the
// periodic resync catches up).
func (s *Server) hearForLoad(ctx context.Context, e charging.Event) error {
	if e.Kind == charging.SessionChanged && e.Session == nil {
		if e.SessionID == "" {
			return nil
		}
		ses, err := s.svc.Store().GetSession(ctx, e.SessionID)
		if err != nil {
			return nil
		}
		e.Session = &ses
	}
	s.load.Hear(e)
	return nil
}

// Load notices: "site:ID" (a site stored or deleted through a node's API),
// "online:CHARGER" and "offline:CHARGER" (its socket opened or closed on a
// node).
func (s *Server) loadNotice(data []byte) {
	kind, id, ok := strings.Cut(string(data), ":")
	if !ok || id == "" {
		return
	}
	switch kind {
	case "site":
		s.load.SiteChanged(id)
	case "online":
		s.load.ChargerOnline(id)
	case "offline":
		// It may have connected to another node meanwhile (the old node
		// closes a socket replaced elsewhere after the new one opened).
		if s.cluster.node.Connected(id) {
			s.load.ChargerOnline(id)
		} else {
			s.load.ChargerOffline(id)
		}
	}
}

// clusterLoadCore is the Manager's core on a node of a cluster: the
// session, connector and charger changes reach the leader through the
// cluster's stream (this node's too, in order with the others'), so in
// process it hears only this node's meter values, which are in no log.
type clusterLoadCore struct{ svc *charging.Service }

func (c clusterLoadCore) Store() charging.Store { return c.svc.Store() }

func (c clusterLoadCore) Subscribe(l charging.Listener) {
	c.svc.Subscribe(func(e charging.Event) {
		if telemetry(e) {
			l(e)
		}
	})
}

// telemetry reports whether e is a meter values event (not in the event
// log).
func telemetry(e charging.Event) bool {
	return e.Kind == charging.SessionChanged && e.Session == nil && e.TransactionID != ""
}

// limiterPort sends the load manager's limits through the command port,
// in W: limitCommands, on the node that holds the charger, puts them in
// the charger's unit.
type limiterPort struct {
	cmds charging.Commands
}

func (a limiterPort) SetChargingLimit(ctx context.Context, l loadmgmt.ChargingLimit) error {
	purpose := charging.LimitTransaction
	if l.TransactionID == "" {
		purpose = charging.LimitDefault
	}
	_, err := a.cmds.SetChargingLimit(ctx, charging.ChargingLimit{
		ChargerID: l.ChargerID, ConnectorID: l.ConnectorID, Purpose: purpose,
		Limit: l.LimitW, Unit: charging.LimitWatts, Phases: l.Phases,
		ProfileID: loadmgmt.ProfileID(l.ConnectorID, l.TransactionID != ""), StackLevel: 1, RequestedBy: loadmgmt.RequestedBy,
	})
	return err
}

// limitCommands is a node's local command port, with load management's
// limits put in the unit and at the stack level the charger takes.
type limitCommands struct {
	charging.Commands
	caps     map[string]*ocpp16.LimitCaps
	protocol func(chargerID string) string
}

func (a limitCommands) capsOf(chargerID string) *ocpp16.LimitCaps {
	if c, ok := a.caps[a.protocol(chargerID)]; ok {
		return c
	}
	return a.caps[ocpp16.Subprotocol]
}

func (a limitCommands) SetChargingLimit(ctx context.Context, l charging.ChargingLimit) (charging.CommandResult, error) {
	if l.RequestedBy != loadmgmt.RequestedBy || l.Unit != charging.LimitWatts {
		return a.Commands.SetChargingLimit(ctx, l)
	}
	unit, stack, err := a.capsOf(l.ChargerID).Get(ctx, l.ChargerID)
	if err != nil {
		return charging.CommandResult{}, err
	}
	l.Limit, l.Unit, l.StackLevel = loadmgmt.InUnit(l.Limit, unit == charging.LimitAmps, l.Phases), unit, stack
	return a.Commands.SetChargingLimit(ctx, l)
}

// presenceHandler tells the load manager and the cluster's presence
// (cluster.go) when a charger connects and disconnects (both protocols'
// handlers are wrapped). In a cluster the load manager runs on one node,
// told by a notice.
type presenceHandler struct {
	ocpp.Handler
	s *Server
}

func (h presenceHandler) Connected(ctx context.Context, c *ocpp.Conn) {
	h.Handler.Connected(ctx, c)
	h.s.holdCharger(c.ID())
	for _, caps := range h.s.limitCaps {
		caps.Forget(c.ID())
	}
	h.s.loadPresence(c.ID(), true)
}

func (h presenceHandler) Disconnected(c *ocpp.Conn) {
	h.Handler.Disconnected(c)
	h.s.releaseCharger(c.ID())
	h.s.loadPresence(c.ID(), false)
}

func (s *Server) loadPresence(id string, online bool) {
	switch {
	case s.load == nil:
	case s.clusterEvents != nil:
		kind := "offline:"
		if online {
			kind = "online:"
		}
		s.cluster.node.Notify(loadNotices, []byte(kind+id))
	case online:
		s.load.ChargerOnline(id)
	default:
		s.load.ChargerOffline(id)
	}
}

// sites is the API's view of the load manager (nil when there is none, so
// the API answers 501). A site changed through it is pushed to OCPI eMSPs
// at once (the OCPI role also looks for changes every sync interval).
func (s *Server) sites() api.SiteManager {
	if s.load == nil {
		return nil
	}
	var changed []func(id string)
	if s.ocpi != nil {
		changed = append(changed, func(string) { s.ocpi.SitesChanged() })
	}
	if s.clusterEvents != nil {
		// The node that runs load management reloads it.
		changed = append(changed, func(id string) { s.cluster.node.Notify(loadNotices, []byte("site:"+id)) })
	}
	if changed == nil {
		return s.load
	}
	return notifyingSites{Manager: s.load, changed: func(id string) {
		for _, f := range changed {
			f(id)
		}
	}}
}

// notifyingSites calls changed after a site was stored or deleted.
type notifyingSites struct {
	*loadmgmt.Manager
	changed func(id string)
}

func (n notifyingSites) PutSite(ctx context.Context, site loadmgmt.Site) (loadmgmt.Site, error) {
	out, err := n.Manager.PutSite(ctx, site)
	if err == nil {
		n.changed(out.ID)
	}
	return out, err
}

func (n notifyingSites) DeleteSite(ctx context.Context, id string) error {
	err := n.Manager.DeleteSite(ctx, id)
	if err == nil {
		n.changed(id)
	}
	return err
}

// ocpiSites groups OCPI Locations by site (nil without load management).
func (s *Server) ocpiSites() ocpi.Sites {
	if s.load == nil {
		return nil
	}
	return ocpiSites{s.load}
}

// ocpiSites reads the stored sites (not the load manager's index, which is
// loaded only once it runs).
type ocpiSites struct{ m *loadmgmt.Manager }

// becknSites makes sites the charging stations of the Beckn catalog (nil
// without load management).
func (s *Server) becknSites() beckn.Sites {
	if s.load == nil {
		return nil
	}
	return becknSites{s.load}
}

type becknSites struct{ m *loadmgmt.Manager }

func (b becknSites) Sites(ctx context.Context) ([]beckn.Site, error) {
	list, err := b.m.Sites().List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]beckn.Site, 0, len(list))
	for _, st := range list {
		out = append(out, beckn.Site{ID: st.ID, Name: st.Name, Chargers: st.Chargers})
	}
	return out, nil
}

func (o ocpiSites) Sites(ctx context.Context) ([]ocpi.Site, error) {
	list, err := o.m.Sites().List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ocpi.Site, 0, len(list))
	for _, st := range list {
		out = append(out, ocpi.Site{ID: st.ID, Name: st.Name, Chargers: st.Chargers, Updated: st.UpdatedAt})
	}
	return out, nil
}

var (
	descSitePower     = prometheus.NewDesc("chargebridge_site_power_kw", "A site's measured power: the sum of its charging connectors' latest draws, kW.", []string{"site"}, nil)
	descSiteLimit     = prometheus.NewDesc("chargebridge_site_limit_kw", "A site's effective import limit, kW.", []string{"site"}, nil)
	descSiteAllocated = prometheus.NewDesc("chargebridge_site_allocated_kw", "The sum of the limits allocated to a site's connectors, kW (uncontrolled connectors not included).", []string{"site"}, nil)
	descSitePaused    = prometheus.NewDesc("chargebridge_site_paused_connectors", "Connectors of a site paused because even the 6 A minimum did not fit.", []string{"site"}, nil)
	descSiteFixed     = prometheus.NewDesc("chargebridge_site_uncontrolled_connectors", "Connectors of a site counted at their maximum: offline, or their charger rejected the limit.", []string{"site"}, nil)
)

// siteCollector samples the sites' allocations when Prometheus scrapes.
type siteCollector struct{ s *Server }

func (c siteCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSitePower, descSiteLimit, descSiteAllocated, descSitePaused, descSiteFixed} {
		ch <- d
	}
}

func (c siteCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	list, err := c.s.load.Statuses(ctx)
	if err != nil {
		c.s.log.Warn("metrics: sites not sampled", "err", err)
		return
	}
	for _, st := range list {
		fixed := 0
		for _, cn := range st.Connectors {
			if cn.State == "uncontrolled" {
				fixed++
			}
		}
		ch <- prometheus.MustNewConstMetric(descSitePower, prometheus.GaugeValue, st.MeasuredKW, st.ID)
		ch <- prometheus.MustNewConstMetric(descSiteLimit, prometheus.GaugeValue, st.LimitKW, st.ID)
		ch <- prometheus.MustNewConstMetric(descSiteAllocated, prometheus.GaugeValue, st.AllocatedKW, st.ID)
		ch <- prometheus.MustNewConstMetric(descSitePaused, prometheus.GaugeValue, float64(st.Paused), st.ID)
		ch <- prometheus.MustNewConstMetric(descSiteFixed, prometheus.GaugeValue, float64(fixed), st.ID)
	}
}

// loadMetrics registers the site gauges.
func (s *Server) loadMetrics(reg prometheus.Registerer) {
	if s.load != nil {
		reg.MustRegister(siteCollector{s})
	}
}

// webSites is the dashboard's view of the load manager (nil without one).
func (s *Server) webSites() web.Sites {
	if s.load == nil {
		return nil
	}
	return s.load
}
