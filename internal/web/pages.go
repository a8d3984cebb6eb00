package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/beckn"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/security"
)

// Page limits.
const (
	maxChargerRows  = 500 // chargers shown at once; refine the search for others
	sessionsPerPage = 50  // sessions per page of the sessions list
	overviewTTL     = 2 * time.Second
	maxScanSessions = 50000 // sessions read to sum today's energy
	scanPage        = 500
)

var funcs = template.FuncMap{
	"kwh":   func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
	"kw":    func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"pct":   func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) },
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"clock": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"lower": strings.ToLower,
	"short": shortID,
	"minutes": func(m float64) string {
		if m < 1 {
			return strconv.Itoa(int(math.Round(m*60))) + " s"
		}
		total := int(math.Round(m))
		if total < 60 {
			return strconv.Itoa(total) + " min"
		}
		return fmt.Sprintf("%d h %02d min", total/60, total%60)
	},
	"open": func(s charging.SessionStatus) bool { return !s.Final() },
	"stoppable": func(s charging.SessionStatus, tx string) bool {
		return s == charging.SessionActive && tx != ""
	},
	"evse": ocpi.EVSEStatusOf,
	"connectorName": func(id int) string {
		if id == 0 {
			return "charger"
		}
		return "#" + strconv.Itoa(id)
	},
	// evseConnector names connector conn of EVSE evse where it tells more
	// than the EVSE: a connector other than the first (an EVSE with a CCS
	// and a Type 2 cable).
	"evseConnector": func(evse, conn int) string {
		if evse == 0 || conn <= 1 {
			return ""
		}
		return "connector " + strconv.Itoa(conn)
	},
	// evseConnectorNumbers are the connector numbers within EVSEs a
	// charger has, when one of its EVSEs has several (none otherwise).
	"evseConnectorNumbers": func(evses []charging.Connector) []int {
		var out []int
		multi := false
		for _, e := range evses {
			multi = multi || len(e.EVSEConnectors) > 1
			for _, k := range e.EVSEConnectors {
				if k.EVSEConnectorID > 0 && !slices.Contains(out, k.EVSEConnectorID) {
					out = append(out, k.EVSEConnectorID)
				}
			}
		}
		if !multi {
			return nil
		}
		slices.Sort(out)
		return out
	},
	"query": func(kv ...string) template.URL {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				v.Set(kv[i], kv[i+1])
			}
		}
		if len(v) == 0 {
			return ""
		}
		return template.URL("?" + v.Encode())
	},
}

// shortID is the first eight characters of an id, enough to tell
// sessions apart on a page.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// connectorStatuses lists the statuses a filter may select, in display order.
var connectorStatuses = []charging.ConnectorStatus{
	charging.StatusAvailable, charging.StatusPreparing, charging.StatusCharging, charging.StatusSuspendedEV,
	charging.StatusSuspendedEVSE, charging.StatusFinishing, charging.StatusReserved, charging.StatusUnavailable,
	charging.StatusFaulted, charging.StatusUnknown,
}

var sessionStatuses = []charging.SessionStatus{
	charging.SessionReserved, charging.SessionPending, charging.SessionActive, charging.SessionStopping,
	charging.SessionCompleted, charging.SessionInterrupted, charging.SessionInvalid,
}

// overview is the overview page's data.
type overview struct {
	computed       time.Time
	Chargers       int
	Online         int
	Offline        int
	Active         int
	EnergyToday    float64
	TodayFrom      time.Time
	TodayTruncated bool
	Problems       []problem
	Recent         []api.Session
}

// problem is a recent error worth an operator's eye.
type problem struct {
	At          time.Time
	ChargerID   string
	ConnectorID int
	SessionID   string
	What        string
}

// maxProblems is how many recent errors the overview lists.
const maxProblems = 12

func (d *Dashboard) overview(ctx context.Context) (*overview, error) {
	d.ovMu.Lock()
	defer d.ovMu.Unlock()
	now := d.svc.Clock().Now()
	if d.ov != nil && now.Sub(d.ov.computed) < overviewTTL && now.After(d.ov.computed) {
		return d.ov, nil
	}
	st := d.svc.Store()
	o := &overview{computed: now}
	cs, err := st.ListChargers(ctx)
	if err != nil {
		return nil, err
	}
	o.Chargers = len(cs)
	connected := d.connectedFunc(ctx)
	for _, c := range cs {
		if connected(c.ID) {
			o.Online++
		}
		for _, k := range c.Connectors {
			if k.Status == charging.StatusFaulted || (k.ErrorCode != "" && k.ErrorCode != "NoError") {
				what := "connector " + string(k.Status)
				if k.ErrorCode != "" && k.ErrorCode != "NoError" {
					what += ": " + k.ErrorCode
				}
				if k.Info != "" {
					what += " (" + k.Info + ")"
				}
				o.Problems = append(o.Problems, problem{At: k.StatusAt, ChargerID: c.ID, ConnectorID: k.ConnectorID, What: what})
			}
		}
	}
	o.Offline = o.Chargers - o.Online

	// Active sessions: there are at most as many as connectors.
	for f := (charging.SessionFilter{Status: charging.SessionActive, Limit: scanPage}); ; {
		ss, next, err := st.ListSessions(ctx, f)
		if err != nil {
			return nil, err
		}
		o.Active += len(ss)
		if next == "" || o.Active >= maxScanSessions {
			break
		}
		f.Cursor = next
	}

	// Today's energy: sessions started since midnight (server time), newest
	// first, until one started earlier.
	y, m, dd := now.Date()
	o.TodayFrom = time.Date(y, m, dd, 0, 0, 0, 0, now.Location())
	scanned := 0
	for f := (charging.SessionFilter{Limit: scanPage}); ; {
		ss, next, err := st.ListSessions(ctx, f)
		if err != nil {
			return nil, err
		}
		done := false
		for _, s := range ss {
			scanned++
			if len(o.Recent) < 8 {
				o.Recent = append(o.Recent, api.SessionView(s, now))
			}
			if s.StartedAt.Before(o.TodayFrom) {
				done = true
				break
			}
			o.EnergyToday += s.KWh()
			if s.Status == charging.SessionInterrupted || s.Status == charging.SessionInvalid {
				at := s.LastUpdated
				if s.EndedAt != nil {
					at = *s.EndedAt
				}
				what := "session " + string(s.Status)
				if s.StopReason != "" {
					what += ": " + s.StopReason
				}
				o.Problems = append(o.Problems, problem{At: at, ChargerID: s.ChargerID, ConnectorID: s.ConnectorID, SessionID: s.ID, What: what})
			}
		}
		if done || next == "" {
			break
		}
		if scanned >= maxScanSessions {
			o.TodayTruncated = true
			break
		}
		f.Cursor = next
	}
	slices.SortFunc(o.Problems, func(a, b problem) int { return b.At.Compare(a.At) })
	if len(o.Problems) > maxProblems {
		o.Problems = o.Problems[:maxProblems]
	}
	d.ov = o
	return o, nil
}

func (d *Dashboard) overviewPage(w http.ResponseWriter, r *http.Request) {
	o, err := d.overview(r.Context())
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.render(w, r, http.StatusOK, "overview", "Overview", "overview", o)
}

// chargersData is the chargers page's data.
type chargersData struct {
	Q, State, Status string
	Statuses         []charging.ConnectorStatus
	Rows             []api.Charger
	Matched, Total   int
	Online           int
	// Alerts are the chargers whose security needs a look: a client
	// certificate expiring within 30 days or expired, refused connection
	// attempts.
	Alerts []security.View
}

func (d *Dashboard) chargersPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := chargersData{Q: strings.TrimSpace(q.Get("q")), State: q.Get("state"), Status: q.Get("status"), Statuses: connectorStatuses}
	cs, err := d.svc.Store().ListChargers(r.Context())
	if err != nil {
		d.fail(w, r, err)
		return
	}
	data.Total = len(cs)
	needle := strings.ToLower(data.Q)
	connected := d.connectedFunc(r.Context())
	for _, c := range cs {
		ac := d.fleetCharger(c, connected)
		if ac.Connected {
			data.Online++
		}
		if !chargerMatches(ac, needle, data.State, data.Status) {
			continue
		}
		data.Matched++
		if len(data.Rows) < maxChargerRows {
			data.Rows = append(data.Rows, ac)
		}
	}
	if d.securityAll != nil {
		vs, err := d.securityAll(r.Context())
		if err != nil {
			d.fail(w, r, err)
			return
		}
		for _, v := range vs {
			if v.CertWarning != "" || v.FailedAttempts > 0 {
				data.Alerts = append(data.Alerts, v)
			}
		}
	}
	d.render(w, r, http.StatusOK, "chargers", "Chargers", "chargers", data)
}

// chargerMatches applies the chargers page's filters: needle (lower case)
// in the id, vendor, model or firmware; state online or offline; a
// connector in status.
func chargerMatches(c api.Charger, needle, state, status string) bool {
	if needle != "" {
		hay := strings.ToLower(c.ID + "\x00" + c.Vendor + "\x00" + c.Model + "\x00" + c.FirmwareVersion + "\x00" + c.SerialNumber)
		if !strings.Contains(hay, needle) {
			return false
		}
	}
	switch state {
	case "online":
		if !c.Connected {
			return false
		}
	case "offline":
		if c.Connected {
			return false
		}
	}
	if status != "" {
		found := false
		for _, k := range c.Connectors {
			found = found || (k.ConnectorID > 0 && string(k.Status) == status)
		}
		if !found {
			return false
		}
	}
	return true
}

// chargerData is the charger page's data.
type chargerData struct {
	Charger    api.Charger
	Connectors []charging.Connector // connectors 1…n
	Sessions   []api.Session
	Events     []eventRow
	// Security is the charger's OCPP security, when the server keeps it.
	Security *security.View
	// Console is the configuration part: firmware, diagnostics, profiles,
	// local list, message log.
	Console *chargerConsole
	// Site is the charger's site, if it has one; Profiles the charging
	// profiles it accepted (those in force unless cleared or expired).
	Site     string
	Profiles []profileRow
	// DeviceModel is what a 2.0.1 station reported of its components and
	// variables (nil when it reported none), its variables filtered by
	// VarQuery (?vq=).
	DeviceModel *charging.DeviceModel
	VarQuery    string
	// VarsAt is the device model's generation time (zero: none yet).
	VarsAt time.Time
	// Violations is the charger's tolerance log: what it sent against the
	// specification, by kind and outcome.
	Violations []charging.ViolationRecord
}

// eventRow is a recorded charger event.
type eventRow struct {
	ID      int64
	Kind    string
	At      time.Time
	Payload string
}

func (d *Dashboard) chargerPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st := d.svc.Store()
	c, err := st.GetCharger(ctx, r.PathValue("id"))
	if err != nil {
		d.fail(w, r, err)
		return
	}
	data := chargerData{Charger: d.charger(c)}
	for _, k := range c.Connectors {
		if k.ConnectorID > 0 {
			data.Connectors = append(data.Connectors, k)
		}
	}
	if data.Sessions, err = d.sessionList(ctx, charging.SessionFilter{ChargerID: c.ID, Limit: 20}); err != nil {
		d.fail(w, r, err)
		return
	}
	evs, err := st.ListEvents(ctx, c.ID, 30)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if data.Console, err = d.chargerConsole(ctx, c.ID, evs); err != nil {
		d.fail(w, r, err)
		return
	}
	for _, e := range evs {
		p := string(e.Payload)
		if len(p) > 300 {
			p = p[:300] + "…"
		}
		data.Events = append(data.Events, eventRow{ID: e.ID, Kind: e.Kind, At: e.At, Payload: p})
	}
	if d.security != nil {
		v, err := d.security(ctx, c.ID)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		data.Security = &v
	}
	if d.sites != nil {
		data.Site, _ = d.sites.SiteOf(c.ID)
	}
	if data.Profiles, err = d.profiles(ctx, c.ID); err != nil {
		d.fail(w, r, err)
		return
	}
	switch data.Violations, err = d.svc.Violations(ctx, c.ID); {
	case err == nil, errors.Is(err, charging.ErrNotSupported):
	default:
		d.fail(w, r, err)
		return
	}
	data.VarQuery = strings.TrimSpace(r.URL.Query().Get("vq"))
	switch dm, err := api.DeviceModel(ctx, d.svc, c.ID, data.VarQuery); {
	case err == nil:
		data.DeviceModel = &dm
		if dm.GeneratedAt != nil {
			data.VarsAt = *dm.GeneratedAt
		}
	case !errors.Is(err, charging.ErrNotFound) && !errors.Is(err, charging.ErrNotSupported):
		d.fail(w, r, err)
		return
	}
	d.render(w, r, http.StatusOK, "charger", c.ID, "chargers", data)
}

// sessionsData is the sessions page's data.
type sessionsData struct {
	Status, ChargerID string
	Statuses          []charging.SessionStatus
	Rows              []api.Session
	Next              string
	Paged             bool
}

func (d *Dashboard) sessionsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := sessionsData{Status: q.Get("status"), ChargerID: strings.TrimSpace(q.Get("charger_id")), Statuses: sessionStatuses, Paged: q.Get("cursor") != ""}
	f := charging.SessionFilter{Status: charging.SessionStatus(data.Status), ChargerID: data.ChargerID, Limit: sessionsPerPage, Cursor: q.Get("cursor")}
	if f.Status != "" && !f.Status.Valid() {
		d.fail(w, r, errors.Join(charging.ErrInvalidInput, fmt.Errorf("unknown session status %q", f.Status)))
		return
	}
	ss, next, err := d.svc.Store().ListSessions(r.Context(), f)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	now := d.svc.Clock().Now()
	for _, s := range ss {
		data.Rows = append(data.Rows, api.SessionView(s, now))
	}
	data.Next = next
	d.render(w, r, http.StatusOK, "sessions", "Sessions", "sessions", data)
}

// sessionData is the session page's data.
type sessionData struct {
	Session   api.Session
	Connector *charging.Connector
	Connected bool
	LastPower *float64
	SoC       *float64
}

func (d *Dashboard) sessionPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s, err := d.svc.Store().GetSession(ctx, r.PathValue("id"))
	if err != nil {
		d.fail(w, r, err)
		return
	}
	data := sessionData{Session: api.SessionView(s, d.svc.Clock().Now()), LastPower: s.LastPowerKW, SoC: s.SoC}
	data.Session.TotalCost = api.CostOf(d.price(ctx, s, nil))
	if c, err := d.svc.Store().GetCharger(ctx, s.ChargerID); err == nil {
		data.Connected = d.presence != nil && d.presence.Connected(c.ID)
		for i := range c.Connectors {
			if c.Connectors[i].ConnectorID == s.ConnectorID {
				data.Connector = &c.Connectors[i]
			}
		}
	}
	d.render(w, r, http.StatusOK, "session", "Session "+shortID(s.ID), "sessions", data)
}

// SessionViews is the body of GET /api/v1/sessions/{id}/views: the same
// session as OCPI 2.2.1 and Beckn EvChargingSession v2.0 show it.
type SessionViews struct {
	OCPI  ocpi.Session `json:"ocpi"`
	Beckn any          `json:"beckn"`
}

func (d *Dashboard) sessionViews(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st := d.svc.Store()
	s, err := st.GetSession(ctx, r.PathValue("id"))
	if err != nil {
		writeError(w, api.StatusFor(err), err.Error())
		return
	}
	samples, err := st.SessionSamples(ctx, s.ID)
	if err != nil {
		d.log.Error("session views failed", "session", s.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error; see the server log")
		return
	}
	p := d.price(ctx, s, samples)
	bc := beckn.SessionContext{Now: d.svc.Clock().Now()}
	oc := ocpi.SessionContext{CPO: d.cpo}
	if p != nil {
		total := p.TotalCost()
		bc.TotalCost, oc.TotalCost = &total, &total
		oc.Currency, oc.Periods = p.Currency, p.ChargingPeriods
	}
	if c, err := st.GetCharger(ctx, s.ChargerID); err == nil {
		for i := range c.Connectors {
			if c.Connectors[i].ConnectorID == s.ConnectorID {
				bc.Connector = &c.Connectors[i]
			}
		}
	}
	b, err := beckn.SessionView(s, samples, bc)
	if err != nil {
		d.log.Error("session views failed", "session", s.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error; see the server log")
		return
	}
	writeJSON(w, http.StatusOK, SessionViews{OCPI: ocpi.SessionView(s, oc), Beckn: b})
}

// price prices a session for its page or views; a failure is logged and
// the session shown without a price.
func (d *Dashboard) price(ctx context.Context, s charging.Session, samples []charging.MeterSample) *pricing.Priced {
	if d.pricer == nil {
		return nil
	}
	p, err := d.pricer.Price(ctx, s, samples)
	if err != nil {
		d.log.Warn("session shown without a price: pricing failed", "session", s.ID, "err", err)
		return nil
	}
	return p
}
