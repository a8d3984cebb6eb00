package loadmgmt

import (
	"context"
	"math"
	"time"
)

// SiteStatus is a site with its current allocation, as the operator API
// shows it.
type SiteStatus struct {
	Site
	// LimitKW is the effective limit (power, capped by the per-phase
	// current).
	LimitKW float64 `json:"limit_kw"`
	// MeasuredKW is the site's measured power: the sum of its connectors'
	// latest draws.
	MeasuredKW float64 `json:"measured_kw"`
	// AllocatedKW is the sum of the limits allocated to controlled
	// connectors; ReservedKW what uncontrolled ones are counted at.
	AllocatedKW float64           `json:"allocated_kw"`
	ReservedKW  float64           `json:"reserved_kw"`
	Paused      int               `json:"paused"`
	Connectors  []ConnectorStatus `json:"connectors"`
	At          time.Time         `json:"at"`
}

// ConnectorStatus is one connector's share of its site.
type ConnectorStatus struct {
	ChargerID     string `json:"charger_id"`
	ConnectorID   int    `json:"connector_id"`
	TransactionID string `json:"transaction_id,omitempty"`
	// State is charging, preparing, paused or uncontrolled.
	State string `json:"state"`
	// AllocatedKW is the allocator's limit; LimitKW the limit in force at
	// the charger (absent until one was confirmed).
	AllocatedKW float64  `json:"allocated_kw"`
	LimitKW     *float64 `json:"limit_kw,omitempty"`
	DrawKW      *float64 `json:"draw_kw,omitempty"`
	MaxKW       float64  `json:"max_kw"`
	Priority    int      `json:"priority"`
	// Reason says why a connector is uncontrolled (offline, or the
	// charger's answer).
	Reason string `json:"reason,omitempty"`
}

func kw(w float64) float64 { return math.Round(w) / 1000 }

// status builds a site's status (m.mu held).
func (m *Manager) status(st *siteState, now time.Time) SiteStatus {
	// The site and its limit are as stored, not the last allocation's:
	// between a change and its reload the allocation has the old ones.
	site := st.cfg
	if st.shown != nil {
		site = *st.shown
	}
	out := SiteStatus{Site: site, LimitKW: kw(site.grid().EffectiveLimitW()), AllocatedKW: kw(st.res.AllocatedW),
		ReservedKW: kw(st.res.ReservedW), Paused: st.res.Paused(), Connectors: []ConnectorStatus{}, At: now}
	measured := 0.0
	for _, k := range st.sortedKeys() {
		c := st.conns[k]
		cs := ConnectorStatus{ChargerID: k.charger, ConnectorID: k.conn, AllocatedKW: kw(c.target),
			MaxKW: kw(st.cfg.ConnectorMaxW(k.charger)), Priority: st.cfg.Priority(k.charger, k.conn, c.idTag), Reason: c.reason}
		switch {
		case c.fixed:
			cs.State = "uncontrolled"
		case c.paused:
			cs.State = "paused"
		case c.charging:
			cs.State = "charging"
		default:
			cs.State = "preparing"
		}
		if c.charging {
			cs.TransactionID = c.txID
		}
		if c.known {
			v := kw(c.applied)
			cs.LimitKW = &v
		}
		if c.hasDraw {
			v := kw(c.drawW)
			cs.DrawKW = &v
			measured += c.drawW
		}
		out.Connectors = append(out.Connectors, cs)
	}
	out.MeasuredKW = kw(measured)
	return out
}

// Status returns a site with its allocation; ok is false when there is no
// such site.
func (m *Manager) Status(ctx context.Context, id string) (SiteStatus, bool, error) {
	m.mu.Lock()
	if st := m.site[id]; st != nil {
		s := m.status(st, m.cfg.Clock.Now())
		m.mu.Unlock()
		return s, true, nil
	}
	m.mu.Unlock()
	// Stored but not loaded yet (just created), or managed on another
	// node: show it without allocation, or as that node announced it.
	s, err := m.sites.Get(ctx, id)
	if err != nil {
		return SiteStatus{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.unloaded(s, m.cfg.Clock.Now()), true, nil
}

// unloaded is the status of a stored site this Manager has not loaded:
// the one announced by the node that manages it, unless the site changed
// since (m.mu held).
func (m *Manager) unloaded(s Site, now time.Time) SiteStatus {
	if a, ok := m.announced[s.ID]; ok && a.UpdatedAt.Equal(s.UpdatedAt) {
		return a
	}
	return SiteStatus{Site: s, LimitKW: kw(s.grid().EffectiveLimitW()), Connectors: []ConnectorStatus{}, At: now}
}

// Statuses returns every site with its allocation, ordered by id.
func (m *Manager) Statuses(ctx context.Context) ([]SiteStatus, error) {
	sites, err := m.sites.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SiteStatus, 0, len(sites))
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range sites {
		if st := m.site[s.ID]; st != nil {
			out = append(out, m.status(st, now))
			continue
		}
		out = append(out, m.unloaded(s, now))
	}
	return out, nil
}

// SiteOf returns the id of the charger's site, if it has one.
func (m *Manager) SiteOf(chargerID string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.chargerSite[chargerID]
	return id, ok
}
