package web

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/pricing"
)

// The console pages: id tags, tariffs, the map and alerts. They read the
// store and the catalog directly and act through the operator API's JSON
// endpoints (forms with data-api, see app.js).

const (
	maxTagRows      = 500  // tags shown at once; refine the search for others
	maxMapLocations = 2000 // chargers drawn on the map
	maxAlertRows    = 200  // alerts of each kind
)

// tagRow is a tag with what Authorize would answer for it now.
type tagRow struct {
	charging.IDTag
	Effective charging.AuthStatus
}

type tagsData struct {
	Q, Status      string
	Statuses       []charging.AuthStatus
	Types          []charging.IDTokenType
	Rows           []tagRow
	Total, Matched int
}

var tagStatuses = []charging.AuthStatus{charging.AuthAccepted, charging.AuthBlocked, charging.AuthExpired, charging.AuthInvalid}

func (d *Dashboard) tagsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := tagsData{Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), Statuses: tagStatuses, Types: charging.IDTokenTypes}
	ts, err := d.svc.Store().ListIDTags(r.Context())
	if err != nil {
		d.fail(w, r, err)
		return
	}
	now := d.svc.Clock().Now()
	needle := strings.ToLower(data.Q)
	data.Total = len(ts)
	for _, t := range ts {
		row := tagRow{IDTag: t, Effective: t.Status}
		if t.Status == charging.AuthAccepted && t.ExpiresAt != nil && !t.ExpiresAt.After(now) {
			row.Effective = charging.AuthExpired
		}
		if needle != "" && !strings.Contains(strings.ToLower(t.ID+"\x00"+t.ParentID), needle) {
			continue
		}
		if data.Status != "" && string(row.Effective) != data.Status {
			continue
		}
		data.Matched++
		if len(data.Rows) < maxTagRows {
			data.Rows = append(data.Rows, row)
		}
	}
	d.render(w, r, http.StatusOK, "tags", "Id tags", "tags", data)
}

// tariffRow is a stored tariff with where it is assigned.
type tariffRow struct {
	ID, Currency, Type string
	Elements           int
	Assigned           []string
	JSON               string
}

type tariffsData struct {
	Available   bool
	Rows        []tariffRow
	Default     string
	Assignments []pricing.Assignment
	Chargers    []string
	Sessions    []api.Session
	Example     string
}

// exampleTariff is what the add form starts with: a valid OCPI tariff.
const exampleTariff = `{
  "country_code": "NL", "party_id": "CBR", "id": "AC-STANDARD", "currency": "EUR",
  "elements": [{"price_components": [
    {"type": "ENERGY", "price": 0.35, "vat": 21, "step_size": 1},
    {"type": "PARKING_TIME", "price": 2.00, "vat": 21, "step_size": 60}
  ], "restrictions": {"min_power": 0}}]
}`

func (d *Dashboard) tariffsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	data := tariffsData{Available: d.catalog != nil, Example: exampleTariff}
	if d.catalog != nil {
		ts, err := d.catalog.Tariffs(ctx)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		as, err := d.catalog.Assignments(ctx)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		where := map[string][]string{}
		for _, a := range as {
			if a.Default {
				data.Default = a.TariffID
			} else {
				data.Assignments = append(data.Assignments, a)
			}
			where[a.TariffID] = append(where[a.TariffID], a.String())
		}
		for _, t := range ts {
			b, _ := json.MarshalIndent(t, "", "  ")
			data.Rows = append(data.Rows, tariffRow{ID: t.ID, Currency: t.Currency, Type: string(t.Type), Elements: len(t.Elements), Assigned: where[t.ID], JSON: string(b)})
		}
	}
	cs, err := d.svc.Store().ListChargers(ctx)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	for _, c := range cs {
		data.Chargers = append(data.Chargers, c.ID)
	}
	if data.Sessions, err = d.sessionList(ctx, charging.SessionFilter{Limit: 30}); err != nil {
		d.fail(w, r, err)
		return
	}
	d.render(w, r, http.StatusOK, "tariffs", "Tariffs", "tariffs", data)
}

// sessionList reads one page of sessions as the API shows them.
func (d *Dashboard) sessionList(ctx context.Context, f charging.SessionFilter) ([]api.Session, error) {
	ss, _, err := d.svc.Store().ListSessions(ctx, f)
	if err != nil {
		return nil, err
	}
	now := d.svc.Clock().Now()
	out := make([]api.Session, 0, len(ss))
	for _, s := range ss {
		out = append(out, api.SessionView(s, now))
	}
	return out, nil
}

// mapPoint is a charger drawn on the map.
type mapPoint struct {
	ChargerID, Name, Address string
	Lat, Lon                 float64
	X, Y                     float64 // in the SVG's 1000×600 box
	Connected, Known         bool
	Status                   string // worst connector status, for the colour
}

type mapData struct {
	Available                      bool
	Points                         []mapPoint
	Without                        []string // chargers without coordinates
	MinLat, MaxLat, MinLon, MaxLon float64
	Total                          int
	Width, Height                  float64
}

// mapPage draws chargers with coordinates on a plain SVG of their
// latitude/longitude bounds: no map tiles, the server may have no internet.
func (d *Dashboard) mapPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	data := mapData{Available: d.catalog != nil, Width: 1000, Height: 600}
	cs, err := d.svc.Store().ListChargers(ctx)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	byID := map[string]charging.Charger{}
	for _, c := range cs {
		byID[c.ID] = c
	}
	placed := map[string]bool{}
	connected := d.connectedFunc(ctx)
	if d.catalog != nil {
		ls, _, err := d.catalog.Locations(ctx, maxMapLocations)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		for _, l := range ls {
			if l.Coordinates == nil {
				continue
			}
			lat, err1 := strconv.ParseFloat(l.Coordinates.Latitude, 64)
			lon, err2 := strconv.ParseFloat(l.Coordinates.Longitude, 64)
			if err1 != nil || err2 != nil || math.Abs(lat) > 90 || math.Abs(lon) > 180 {
				continue
			}
			c, known := byID[l.ChargerID]
			p := mapPoint{ChargerID: l.ChargerID, Name: l.Name, Address: strings.TrimSpace(l.Address + " " + l.City), Lat: lat, Lon: lon, Known: known}
			if known {
				p.Connected = connected(c.ID)
				p.Status = worstStatus(c)
			}
			placed[l.ChargerID] = true
			data.Points = append(data.Points, p)
		}
	}
	for _, c := range cs {
		if !placed[c.ID] {
			data.Without = append(data.Without, c.ID)
		}
	}
	data.Total = len(cs)
	project(&data)
	d.render(w, r, http.StatusOK, "map", "Map", "map", data)
}

// worstStatus is the status that colours a charger's dot: faulted before
// charging before available.
func worstStatus(c charging.Charger) string {
	rank := map[charging.ConnectorStatus]int{charging.StatusFaulted: 5, charging.StatusUnavailable: 4, charging.StatusCharging: 3, charging.StatusSuspendedEV: 3, charging.StatusSuspendedEVSE: 3, charging.StatusPreparing: 2, charging.StatusFinishing: 2, charging.StatusReserved: 2, charging.StatusAvailable: 1}
	best, out := 0, "unknown"
	for _, k := range c.Connectors {
		if k.ConnectorID == 0 {
			continue
		}
		if n := rank[k.Status]; n > best {
			best, out = n, strings.ToLower(string(k.Status))
		}
	}
	return out
}

// project places the points in the SVG box: an equirectangular projection
// of their bounds with a margin, longitude scaled by cos(mid latitude) so
// that distances look right, keeping the aspect ratio.
func project(m *mapData) {
	if len(m.Points) == 0 {
		return
	}
	m.MinLat, m.MaxLat, m.MinLon, m.MaxLon = 90, -90, 180, -180
	for _, p := range m.Points {
		m.MinLat, m.MaxLat = min(m.MinLat, p.Lat), max(m.MaxLat, p.Lat)
		m.MinLon, m.MaxLon = min(m.MinLon, p.Lon), max(m.MaxLon, p.Lon)
	}
	// A single site (or chargers metres apart) gets a view about a
	// kilometre wide rather than an infinite zoom.
	const minSpan = 0.01
	if d := minSpan - (m.MaxLat - m.MinLat); d > 0 {
		m.MinLat, m.MaxLat = m.MinLat-d/2, m.MaxLat+d/2
	}
	if d := minSpan - (m.MaxLon - m.MinLon); d > 0 {
		m.MinLon, m.MaxLon = m.MinLon-d/2, m.MaxLon+d/2
	}
	k := math.Cos((m.MinLat + m.MaxLat) / 2 * math.Pi / 180)
	spanX := (m.MaxLon - m.MinLon) * k
	spanY := m.MaxLat - m.MinLat
	const margin = 40.0
	scale := min((m.Width-2*margin)/spanX, (m.Height-2*margin)/spanY)
	offX := (m.Width - spanX*scale) / 2
	offY := (m.Height - spanY*scale) / 2
	for i := range m.Points {
		p := &m.Points[i]
		p.X = math.Round((offX+(p.Lon-m.MinLon)*k*scale)*10) / 10
		p.Y = math.Round((offY+(m.MaxLat-p.Lat)*scale)*10) / 10
	}
}

// alert is something that needs an operator's eye.
type alert struct {
	Key       string // stable id, for acknowledging
	Kind      string
	At        time.Time
	ChargerID string
	SessionID string
	What      string
	Acked     bool
	AckedAt   time.Time
}

type alertsData struct {
	Rows       []alert
	Open       int
	ShowAcked  bool
	AckedCount int
	Kinds      map[string]int
}

// docAlertAck is the document kind of an acknowledged alert.
const docAlertAck = "alert_ack"

// alerts gathers the current alerts: faulted connectors, interrupted
// sessions, offline chargers, failed OCPI pushes and security events.
func (d *Dashboard) alerts(ctx context.Context) ([]alert, error) {
	st := d.svc.Store()
	var out []alert
	cs, err := st.ListChargers(ctx)
	if err != nil {
		return nil, err
	}
	isConnected := d.connectedFunc(ctx)
	for _, c := range cs {
		connected := isConnected(c.ID)
		if !connected && c.LastSeenAt != nil {
			out = append(out, alert{Key: "offline/" + c.ID + "/" + strconv.FormatInt(c.LastSeenAt.UnixNano(), 36), Kind: "offline", At: *c.LastSeenAt, ChargerID: c.ID, What: "charger offline since its last message"})
		}
		for _, k := range c.Connectors {
			if k.Status == charging.StatusFaulted || (k.ErrorCode != "" && k.ErrorCode != "NoError") {
				what := "connector " + strconv.Itoa(k.ConnectorID) + " " + string(k.Status)
				if k.ErrorCode != "" && k.ErrorCode != "NoError" {
					what += ": " + k.ErrorCode
				}
				if k.Info != "" {
					what += " (" + k.Info + ")"
				}
				out = append(out, alert{Key: fmt.Sprintf("fault/%s/%d/%s", c.ID, k.ConnectorID, strconv.FormatInt(k.StatusAt.UnixNano(), 36)), Kind: "fault", At: k.StatusAt, ChargerID: c.ID, What: what})
			}
		}
	}
	ss, _, err := st.ListSessions(ctx, charging.SessionFilter{Status: charging.SessionInterrupted, Limit: maxAlertRows})
	if err != nil {
		return nil, err
	}
	for _, s := range ss {
		at := s.StartedAt
		if s.EndedAt != nil {
			at = *s.EndedAt
		}
		what := "session interrupted"
		if s.StopReason != "" {
			what += ": " + s.StopReason
		}
		out = append(out, alert{Key: "interrupted/" + s.ID, Kind: "interrupted", At: at, ChargerID: s.ChargerID, SessionID: s.ID, What: what})
	}
	if d.securityAll != nil {
		vs, err := d.securityAll(ctx)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if v.CertWarning != "" {
				out = append(out, alert{Key: "cert/" + v.ChargerID + "/" + v.CertWarning, Kind: "security", At: d.svc.Clock().Now(), ChargerID: v.ChargerID, What: "client certificate " + v.CertWarning})
			}
			if v.FailedAttempts > 0 && v.LastFailureAt != nil {
				out = append(out, alert{Key: "authfail/" + v.ChargerID + "/" + strconv.FormatInt(v.LastFailureAt.UnixNano(), 36), Kind: "security", At: *v.LastFailureAt, ChargerID: v.ChargerID, What: fmt.Sprintf("%d refused connection attempts", v.FailedAttempts)})
			}
		}
	}
	for _, c := range cs {
		evs, err := st.ListEvents(ctx, c.ID, 20)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if e.Kind != "SecurityEventNotification" {
				continue
			}
			var p struct {
				Type      string `json:"type"`
				TechInfo  string `json:"techInfo"`
				Timestamp string `json:"timestamp"`
			}
			_ = json.Unmarshal(e.Payload, &p)
			what := "security event " + p.Type
			if p.TechInfo != "" {
				what += " (" + p.TechInfo + ")"
			}
			out = append(out, alert{Key: "secevent/" + strconv.FormatInt(e.ID, 10), Kind: "security", At: e.At, ChargerID: c.ID, What: what})
		}
	}
	if d.outbox != nil {
		stats, err := d.outbox(ctx)
		if err != nil {
			return nil, err
		}
		now := d.svc.Clock().Now()
		for _, o := range stats {
			if o.Depth == 0 || now.Sub(o.Oldest) < stuckPush {
				continue
			}
			out = append(out, alert{Key: "push/" + o.Peer + "/" + strconv.FormatInt(o.Oldest.UnixNano(), 36), Kind: "push", At: o.Oldest,
				What: fmt.Sprintf("OCPI pushes to %s not delivered: %d waiting, the oldest since %s", o.Peer, o.Depth, o.Oldest.UTC().Format(time.RFC3339))})
		}
	}
	slices.SortStableFunc(out, func(a, b alert) int { return b.At.Compare(a.At) })
	return out, nil
}

// stuckPush is how long an OCPI push may wait before it is an alert.
const stuckPush = 5 * time.Minute

// OutboxStats gives the OCPI outbox of every party (ocpi.CPO.OutboxStats).
type OutboxStats func(ctx context.Context) ([]ocpi.OutboxStat, error)

func (d *Dashboard) alertsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	all, err := d.alerts(ctx)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	data := alertsData{ShowAcked: r.URL.Query().Get("acked") == "1", Kinds: map[string]int{}}
	docs, _ := d.svc.Store().(charging.DocStore)
	for _, a := range all {
		if docs != nil {
			if doc, err := docs.GetDoc(ctx, docAlertAck, a.Key); err == nil {
				a.Acked, a.AckedAt = true, doc.Updated
			}
		}
		if a.Acked {
			data.AckedCount++
			if !data.ShowAcked {
				continue
			}
		} else {
			data.Open++
			data.Kinds[a.Kind]++
		}
		if len(data.Rows) < maxAlertRows {
			data.Rows = append(data.Rows, a)
		}
	}
	d.render(w, r, http.StatusOK, "alerts", "Alerts", "alerts", data)
}

// ackAlert is POST /api/v1/alerts/ack {"key": …}: the alert stays known
// as seen (a new occurrence has a new key and shows again).
func (d *Dashboard) ackAlert(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Key string `json:"key"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "body must be {\"key\": \"…\"}: "+err.Error())
		return
	}
	key := in.Key
	if key == "" || len(key) > 200 {
		writeError(w, http.StatusBadRequest, "alert key must be 1 to 200 characters")
		return
	}
	docs, ok := d.svc.Store().(charging.DocStore)
	if !ok {
		writeError(w, http.StatusNotImplemented, "acknowledging alerts needs a store that keeps documents")
		return
	}
	now := d.svc.Clock().Now()
	body, _ := json.Marshal(map[string]any{"key": key, "acknowledged_at": now})
	if err := docs.PutDoc(r.Context(), charging.Doc{Kind: docAlertAck, ID: key, Body: body, Updated: now}); err != nil {
		d.log.Error("acknowledge alert failed", "key", key, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error; see the server log")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": key, "acknowledged_at": now})
}

// AlertJSON is an alert in GET /api/v1/alerts.
type AlertJSON struct {
	Key       string    `json:"key"`
	Kind      string    `json:"kind"`
	At        time.Time `json:"at"`
	ChargerID string    `json:"charger_id,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	What      string    `json:"what"`
}

func (d *Dashboard) listAlerts(w http.ResponseWriter, r *http.Request) {
	all, err := d.alerts(r.Context())
	if err != nil {
		d.log.Error("list alerts failed", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error; see the server log")
		return
	}
	docs, _ := d.svc.Store().(charging.DocStore)
	items := []AlertJSON{}
	for _, a := range all {
		if docs != nil {
			if _, err := docs.GetDoc(r.Context(), docAlertAck, a.Key); err == nil {
				continue
			}
		}
		items = append(items, AlertJSON{Key: a.Key, Kind: a.Kind, At: a.At, ChargerID: a.ChargerID, SessionID: a.SessionID, What: a.What})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}
