package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// The metrics an operator alerts on, in the chargebridge_ namespace. They
// cost the hot path nothing beyond a map update per session or connector
// change: sessions and connectors are counted from the core's events (one
// load from the store at start), the OCPI outbox is sampled when
// Prometheus scrapes, the stores time their own commits.
//
// Counts are this process's: several nodes on one database each count the
// chargers connected to them (sum them in Prometheus); the session and
// connector gauges start from the database at start.

// metrics holds the event-driven counts; mu guards the maps and counts.
type metrics struct {
	reg *prometheus.Registry
	// commit is the store's write-transaction latency.
	commit prometheus.Histogram
	// forward is the time of the parts of the commands this node
	// forwarded to the node holding the charger (cluster.Phases).
	forward *prometheus.HistogramVec

	mu sync.Mutex
	// open maps each open (not final) session to its status; byStatus
	// counts them.
	open     map[string]charging.SessionStatus
	byStatus map[charging.SessionStatus]int
	// ended remembers the last sessions that ended (a ring), so a
	// repeated final event (a retried StopTransaction) counts once.
	ended    map[string]bool
	endedIDs []string
	endedAt  int
	// endedTotal counts sessions that ended, by final status; energyKWh
	// is the energy of sessions that ended.
	endedTotal map[charging.SessionStatus]float64
	energyKWh  float64
	// conns maps charger/connector to its status; connByStatus counts.
	conns        map[connKey]charging.ConnectorStatus
	connByStatus map[charging.ConnectorStatus]int
}

type connKey struct {
	charger   string
	connector int
}

// endedMemory is how many ended sessions are remembered against repeats.
const endedMemory = 4096

func newMetrics() *metrics {
	return &metrics{
		reg: prometheus.NewRegistry(),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "chargebridge", Name: "store_commit_seconds",
			Help:    "Time a store write takes from BEGIN to a durable COMMIT (SQLite: one group commit; PostgreSQL: one write statement or batch).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		forward: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "chargebridge", Name: "cluster_forward_seconds",
			Help:    "Time of each part of a command forwarded to the node holding the charger: lookup (presence), request (the NATS round trip), and within it to_holder, queued, run (on the holding node) and back.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"phase"}),
		open:         map[string]charging.SessionStatus{},
		byStatus:     map[charging.SessionStatus]int{},
		ended:        map[string]bool{},
		endedIDs:     make([]string, endedMemory),
		endedTotal:   map[charging.SessionStatus]float64{},
		conns:        map[connKey]charging.ConnectorStatus{},
		connByStatus: map[charging.ConnectorStatus]int{},
	}
}

// observeCommit is the stores' commit observer.
func (m *metrics) observeCommit(d time.Duration) { m.commit.Observe(d.Seconds()) }

// openStatuses are the statuses of sessions that have not ended.
var openStatuses = []charging.SessionStatus{charging.SessionReserved, charging.SessionPending, charging.SessionActive, charging.SessionStopping}

// connectorStatuses are always reported, 0 when no connector has them, so
// alerts and graphs have a series from the start.
var connectorStatuses = []charging.ConnectorStatus{charging.StatusAvailable, charging.StatusPreparing, charging.StatusCharging,
	charging.StatusSuspendedEV, charging.StatusSuspendedEVSE, charging.StatusFinishing, charging.StatusReserved,
	charging.StatusUnavailable, charging.StatusFaulted, charging.StatusUnknown}

// load reads the open sessions and the connectors from the store, before
// any charger is connected.
func (m *metrics) load(ctx context.Context, st charging.Store) error {
	cs, err := st.ListChargers(ctx)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range cs {
		for i := range c.Connectors {
			m.setConnector(&c.Connectors[i], c.ID)
		}
	}
	for _, status := range openStatuses {
		cursor := ""
		for range 10000 { // at most 5 million open sessions
			page, next, err := st.ListSessions(ctx, charging.SessionFilter{Status: status, Limit: 500, Cursor: cursor})
			if err != nil {
				return fmt.Errorf("metrics: %w", err)
			}
			for _, s := range page {
				m.setSession(s.ID, s.Status)
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return nil
}

// observe is the core's listener: it must not block.
func (m *metrics) observe(e charging.Event) {
	switch {
	case e.Kind == charging.SessionChanged && e.Session != nil:
		s := e.Session
		m.mu.Lock()
		defer m.mu.Unlock()
		if !s.Status.Final() {
			m.setSession(s.ID, s.Status)
			return
		}
		if m.ended[s.ID] {
			return
		}
		m.setSession(s.ID, "")
		if old := m.endedIDs[m.endedAt]; old != "" {
			delete(m.ended, old)
		}
		m.endedIDs[m.endedAt] = s.ID
		m.endedAt = (m.endedAt + 1) % endedMemory
		m.ended[s.ID] = true
		m.endedTotal[s.Status]++
		if kwh := s.KWh(); kwh > 0 {
			m.energyKWh += kwh
		}
	case e.Kind == charging.ConnectorChanged && e.Connector != nil:
		m.mu.Lock()
		defer m.mu.Unlock()
		m.setConnector(e.Connector, e.ChargerID)
	}
}

// setSession records a session's open status; "" removes it. m.mu is held.
func (m *metrics) setSession(id string, status charging.SessionStatus) {
	if old, ok := m.open[id]; ok {
		m.byStatus[old]--
		delete(m.open, id)
	}
	if status != "" {
		m.open[id] = status
		m.byStatus[status]++
	}
}

// setConnector records a connector's status (connector 0, the charger as a
// whole, is not a connector here). m.mu is held.
func (m *metrics) setConnector(c *charging.Connector, chargerID string) {
	if c.ConnectorID < 1 {
		return
	}
	if chargerID == "" {
		chargerID = c.ChargerID
	}
	k := connKey{chargerID, c.ConnectorID}
	if old, ok := m.conns[k]; ok {
		m.connByStatus[old]--
	}
	m.conns[k] = c.Status
	m.connByStatus[c.Status]++
}

var (
	descSessions     = prometheus.NewDesc("chargebridge_sessions", "Open sessions by status (reserved, pending, active, stopping).", []string{"status"}, nil)
	descSessionsEnd  = prometheus.NewDesc("chargebridge_sessions_ended_total", "Sessions that ended since start, by final status (completed, interrupted, invalid).", []string{"status"}, nil)
	descEnergy       = prometheus.NewDesc("chargebridge_energy_delivered_kwh_total", "Energy of the sessions that ended since start, kWh (counted when a session ends).", nil, nil)
	descConnectors   = prometheus.NewDesc("chargebridge_connectors", "Connectors by their last reported OCPP status (Available, Charging, Faulted, …; Unknown: never heard from).", []string{"status"}, nil)
	descOutboxDepth  = prometheus.NewDesc("chargebridge_ocpi_outbox_depth", "OCPI pushes waiting to be delivered, per party.", []string{"party"}, nil)
	descOutboxAge    = prometheus.NewDesc("chargebridge_ocpi_outbox_oldest_seconds", "Age of the oldest OCPI push waiting, per party (0 when none waits).", []string{"party"}, nil)
	descPushes       = prometheus.NewDesc("chargebridge_ocpi_pushes_total", "OCPI push attempts since start by result: delivered, failed (to be retried or refused), dropped (refused three times, given up).", []string{"result"}, nil)
	descViolations   = prometheus.NewDesc("chargebridge_violations_total", "What chargers sent against the OCPP specification since start, by kind and outcome: tolerated (read leniently and logged, sampled) or refused (answered with a CALLERROR).", []string{"kind", "outcome"}, nil)
	descScrapeErrors = prometheus.NewDesc("chargebridge_metrics_sample_errors_total", "Scrapes whose sampling of the store failed (the OCPI outbox gauges are then missing).", nil, nil)
)

// collector reports the event-driven counts and samples the OCPI outbox.
type collector struct {
	m *metrics
	s *Server

	errMu     sync.Mutex
	sampleErr float64
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descSessionsEnd, descEnergy, descConnectors, descOutboxDepth, descOutboxAge, descPushes, descViolations, descScrapeErrors} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	for _, st := range openStatuses {
		ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(m.byStatus[st]), string(st))
	}
	for _, st := range []charging.SessionStatus{charging.SessionCompleted, charging.SessionInterrupted, charging.SessionInvalid} {
		ch <- prometheus.MustNewConstMetric(descSessionsEnd, prometheus.CounterValue, m.endedTotal[st], string(st))
	}
	ch <- prometheus.MustNewConstMetric(descEnergy, prometheus.CounterValue, m.energyKWh)
	c.violations(ch)
	for _, st := range connectorStatuses {
		ch <- prometheus.MustNewConstMetric(descConnectors, prometheus.GaugeValue, float64(m.connByStatus[st]), string(st))
	}
	for st, n := range m.connByStatus {
		if !slices.Contains(connectorStatuses, st) { // a status a 2.0.1 charger adds
			ch <- prometheus.MustNewConstMetric(descConnectors, prometheus.GaugeValue, float64(n), string(st))
		}
	}
	m.mu.Unlock()

	if c.s.ocpi == nil {
		return
	}
	ok, failed, dropped := c.s.ocpi.PushCounts()
	ch <- prometheus.MustNewConstMetric(descPushes, prometheus.CounterValue, float64(ok), "delivered")
	ch <- prometheus.MustNewConstMetric(descPushes, prometheus.CounterValue, float64(failed), "failed")
	ch <- prometheus.MustNewConstMetric(descPushes, prometheus.CounterValue, float64(dropped), "dropped")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	stats, err := c.s.ocpi.OutboxStats(ctx)
	c.errMu.Lock()
	if err != nil {
		c.sampleErr++
		c.s.log.Warn("metrics: OCPI outbox not sampled", "err", err)
	}
	ch <- prometheus.MustNewConstMetric(descScrapeErrors, prometheus.CounterValue, c.sampleErr)
	c.errMu.Unlock()
	now := c.s.svc.Clock().Now()
	for _, st := range stats {
		ch <- prometheus.MustNewConstMetric(descOutboxDepth, prometheus.GaugeValue, float64(st.Depth), st.Peer)
		age := 0.0
		if !st.Oldest.IsZero() {
			age = max(0, now.Sub(st.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(descOutboxAge, prometheus.GaugeValue, age, st.Peer)
	}
}

// violations reports what chargers sent against the specification: the
// core's counts (Service.RecordViolation, by kind and outcome; the kind's
// hyphens become underscores in the label, as Prometheus label values
// usually are), the schema refusals a gate counted without recording them
// in the core, and the server's own tolerance of chargers that offer no
// subprotocol.
func (c *collector) violations(ch chan<- prometheus.Metric) {
	counts := map[[2]string]int64{
		{"timestamp_without_zone", "tolerated"}: 0,
		{"timestamp_without_zone", "refused"}:   0,
		{"schema", "refused"}:                   c.s.h16.Violations().SchemaRejected.Load(),
		{"no_subprotocol", "tolerated"}:         c.s.ocpp.Stats().NoSubprotocol.Load(),
	}
	for _, v := range c.s.svc.ViolationCounts() {
		counts[[2]string{strings.ReplaceAll(v.Kind, "-", "_"), v.Outcome}] += v.N
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(descViolations, prometheus.CounterValue, float64(n), k[0], k[1])
	}
}

// registry fills the /metrics registry: the Go runtime, the OCPP server's
// counters, the collector above, the store's commit histogram and the
// Beckn BPP's counters.
func (s *Server) registry() *prometheus.Registry {
	reg := s.met.reg
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	st := s.ocpp.Stats()
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "chargebridge", Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "chargebridge", Name: name, Help: help}, f))
	}
	gauge("chargers_connected", "Chargers with an open OCPP connection.", func() float64 { return float64(st.Connected.Load()) })
	counter("ocpp_connections_accepted_total", "OCPP connections accepted.", func() float64 { return float64(st.Accepted.Load()) })
	counter("ocpp_connections_refused_total", "OCPP connections refused (unknown charger, bad id, duplicate, subprotocol).", func() float64 { return float64(st.Refused.Load()) })
	counter("ocpp_handshakes_abandoned_total", "OCPP connections the charger had closed by the end of the handshake (it gave up waiting; also in ocpp_connections_refused_total).", func() float64 { return float64(st.GaveUp.Load()) })
	gauge("ocpp_handshakes_in_progress", "OCPP connection attempts between authentication and registration now (at most --max-handshakes).", func() float64 { return float64(st.Handshaking.Load()) })
	counter("ocpp_handshakes_deferred_total", "OCPP connection attempts told to retry later (503, Retry-After) because --max-handshakes were in progress (also in ocpp_connections_refused_total).", func() float64 { return float64(st.Deferred.Load()) })
	gauge("ocpp_read_buffers", "OCPP read buffers (4 KB each) held now: one per charger whose frames are being read.", func() float64 { return float64(st.ReadBuffers.Load()) })
	counter("ocpp_calls_handled_total", "Calls from chargers answered with a CALLRESULT.", func() float64 { return float64(st.CallsHandled.Load()) })
	counter("ocpp_calls_answered_on_commit_total", "MeterValues from chargers (OCPP 1.6, of a transaction) answered by the store once their write was durable, without a goroutine waiting for the commit (also in ocpp_calls_handled_total or ocpp_call_errors_total).", func() float64 { return float64(st.AnsweredOnCommit.Load()) })
	counter("ocpp_call_errors_total", "Calls from chargers answered with a CALLERROR.", func() float64 { return float64(st.CallErrors.Load()) })
	counter("ocpp_bad_frames_total", "Frames from chargers that were not OCPP-J.", func() float64 { return float64(st.BadFrames.Load()) })
	counter("ocpp_calls_sent_total", "Calls sent to chargers.", func() float64 { return float64(st.CallsSent.Load()) })
	counter("ocpp_calls_timed_out_total", "Calls to chargers that got no answer in time.", func() float64 { return float64(st.CallsTimedOut.Load()) })
	reg.MustRegister(s.met.commit, s.met.forward, &collector{m: s.met, s: s})
	s.becknMetrics(counter)
	s.loadMetrics(reg)
	s.securityMetrics(gauge, counter)
	return reg
}

// Metrics is the /metrics registry, for parts that add their own
// collectors (chargebridge_ namespace, registered before Start).
func (s *Server) Metrics() prometheus.Registerer { return s.met.reg }
