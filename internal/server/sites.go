package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/beckn"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/loadmgmt"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp16"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp201"
	"github.com/chargebridge/chargebridge/internal/web"
)

// setupLoad builds site load management: sites kept as documents, limits
// sent as charging profiles through the command port (1.6 or 2.0.1, the
// charger's protocol).
func (s *Server) setupLoad(clock charging.Clock, adjust func(*loadmgmt.Config)) {
	docs, err := s.svc.Docs()
	if err != nil {
		s.log.Warn("no site load management: the store keeps no documents", "err", err)
		return
	}
	s.limitCaps = map[string]*ocpp16.LimitCaps{
		ocpp16.Subprotocol:  ocpp16.NewLimitCaps(s.cmd, clock.Now),
		ocpp201.Subprotocol: ocpp16.NewLimitCapsAsking(ocpp201.AskLimitCaps(s.cmd201), clock.Now),
	}
	cfg := loadmgmt.Config{Clock: clock, Log: s.log.With("part", "loadmgmt")}
	if adjust != nil {
		adjust(&cfg)
	}
	extra := cfg.OnChange
	cfg.OnChange = func(st loadmgmt.SiteStatus) {
		if extra != nil {
			extra(st)
		}
	}
	s.load = loadmgmt.NewManager(s.svc, docs, limiterPort{cmds: s.commands, caps: s.limitCaps, protocol: s.ocpp.Protocol}, cfg)
}

// Load returns the site load manager (nil when the store keeps no
// documents).
func (s *Server) Load() *loadmgmt.Manager { return s.load }

// limiterPort sends the load manager's limits through the command port,
// in the unit and at the stack level the charger takes, asked the way of
// its protocol.
type limiterPort struct {
	cmds     charging.Commands
	caps     map[string]*ocpp16.LimitCaps
	protocol func(chargerID string) string
}

func (a limiterPort) capsOf(chargerID string) *ocpp16.LimitCaps {
	if c, ok := a.caps[a.protocol(chargerID)]; ok {
		return c
	}
	return a.caps[ocpp16.Subprotocol]
}

func (a limiterPort) SetChargingLimit(ctx context.Context, l loadmgmt.ChargingLimit) error {
	unit, stack, err := a.capsOf(l.ChargerID).Get(ctx, l.ChargerID)
	if err != nil {
		return err
	}
	purpose := charging.LimitTransaction
	if l.TransactionID == 0 {
		purpose = charging.LimitDefault
	}
	_, err = a.cmds.SetChargingLimit(ctx, charging.ChargingLimit{
		ChargerID: l.ChargerID, ConnectorID: l.ConnectorID, Purpose: purpose,
		Limit: loadmgmt.InUnit(l.LimitW, unit == charging.LimitAmps, l.Phases), Unit: unit, Phases: l.Phases,
		ProfileID: loadmgmt.ProfileID(l.ConnectorID, l.TransactionID != 0), StackLevel: stack, RequestedBy: "loadmgmt",
	})
	return err
}

// presenceHandler tells the load manager and the cluster's presence
// (cluster.go) when a charger connects and disconnects (both protocols'
// handlers are wrapped).
type presenceHandler struct {
	ocpp.Handler
	s *Server
}

func (h presenceHandler) Connected(ctx context.Context, c *ocpp.Conn) {
	h.Handler.Connected(ctx, c)
	h.s.holdCharger(c.ID())
	if h.s.load != nil {
		for _, caps := range h.s.limitCaps {
			caps.Forget(c.ID())
		}
		h.s.load.ChargerOnline(c.ID())
	}
}

func (h presenceHandler) Disconnected(c *ocpp.Conn) {
	h.Handler.Disconnected(c)
	h.s.releaseCharger(c.ID())
	if h.s.load != nil {
		h.s.load.ChargerOffline(c.ID())
	}
}

// sites is the API's view of the load manager (nil when there is none, so
// the API answers 501). A site changed through it is pushed to OCPI eMSPs
// at once (the OCPI role also looks for changes every sync interval).
func (s *Server) sites() api.SiteManager {
	if s.load == nil {
		return nil
	}
	if s.ocpi != nil {
		return notifyingSites{Manager: s.load, changed: s.ocpi.SitesChanged}
	}
	return s.load
}

// notifyingSites calls changed after a site was stored or deleted.
type notifyingSites struct {
	*loadmgmt.Manager
	changed func()
}

func (n notifyingSites) PutSite(ctx context.Context, site loadmgmt.Site) (loadmgmt.Site, error) {
	out, err := n.Manager.PutSite(ctx, site)
	if err == nil {
		n.changed()
	}
	return out, err
}

func (n notifyingSites) DeleteSite(ctx context.Context, id string) error {
	err := n.Manager.DeleteSite(ctx, id)
	if err == nil {
		n.changed()
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
