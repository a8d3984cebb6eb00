// Package api is the operator REST API under /api/v1: chargers, connectors,
// id tags, sessions, tariffs and their assignment to connectors, and the
// chargers' locations, as JSON. The dashboard and the CLI use it; its
// OpenAPI document is served at /api/v1/openapi.json.
package api

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/loadmgmt"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// Presence tells whether a charger has an open connection.
type Presence interface {
	Connected(chargerID string) bool
}

// API serves the operator API.
type API struct {
	svc       *charging.Service
	presence  Presence
	log       *slog.Logger
	port      charging.Commands
	commander RawCommander
	history   CommandHistory
	catalog   *pricing.Catalog
	pricer    Pricer
	sites     SiteManager
	cluster   Cluster
}

// New returns the API on svc.
func New(svc *charging.Service, presence Presence, log *slog.Logger) *API {
	return &API{svc: svc, presence: presence, log: log}
}

//go:embed openapi.json
var openapiDoc []byte

// checkedMux answers a request whose query string does not parse (such as
// cursor=%ZZ) with 400 before its handler runs: url.Values drops a bad pair,
// and the handler would serve page one as if no cursor had been given.
type checkedMux struct {
	Mux
	a *API
}

func (m checkedMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			m.a.fail(w, fmt.Errorf("%w: query string: %v", charging.ErrInvalidInput, err))
			return
		}
		h(w, r)
	})
}

// Mux is where Register adds the routes (an *http.ServeMux, or the
// server's, which remembers them for the OpenAPI completeness test).
type Mux interface {
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Register adds the API's routes to mux. Every route added under /api/
// must be in openapi.json: internal/server's TestOpenAPICoversEveryRoute
// fails otherwise.
func (a *API) Register(mux Mux) {
	mux = checkedMux{Mux: mux, a: a}
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapiDoc)
	})
	mux.HandleFunc("GET /api/v1/chargers", a.listChargers)
	mux.HandleFunc("POST /api/v1/chargers", a.addCharger)
	mux.HandleFunc("GET /api/v1/chargers/{id}", a.getCharger)
	mux.HandleFunc("DELETE /api/v1/chargers/{id}", a.deleteCharger)
	mux.HandleFunc("GET /api/v1/chargers/{id}/events", a.chargerEvents)
	mux.HandleFunc("POST /api/v1/chargers/{id}/commands/{action}", a.sendCommand)
	mux.HandleFunc("GET /api/v1/chargers/{id}/commands", a.listCommands)
	mux.HandleFunc("POST /api/v1/chargers/{id}/actions/{name}", a.chargerAction)
	mux.HandleFunc("POST /api/v1/sessions/{id}/stop", a.stopSession)
	mux.HandleFunc("GET /api/v1/chargers/{id}/charging-profiles", a.chargerDocs(charging.DocChargingProfile))
	mux.HandleFunc("GET /api/v1/chargers/{id}/availability", a.chargerDocs(charging.DocAvailability))
	mux.HandleFunc("GET /api/v1/chargers/{id}/local-list", a.localList)
	mux.HandleFunc("GET /api/v1/chargers/{id}/violations", a.violations)
	mux.HandleFunc("GET /api/v1/chargers/{id}/tolerance", a.getTolerance)
	mux.HandleFunc("PUT /api/v1/chargers/{id}/tolerance", a.putTolerance)
	mux.HandleFunc("GET /api/v1/chargers/{id}/variables", a.variables)
	mux.HandleFunc("POST /api/v1/chargers/{id}/variables", a.setVariable)
	mux.HandleFunc("GET /api/v1/tags", a.listTags)
	mux.HandleFunc("POST /api/v1/tags", a.addTag)
	mux.HandleFunc("DELETE /api/v1/tags/{id}", a.deleteTag)
	mux.HandleFunc("GET /api/v1/sessions", a.listSessions)
	mux.HandleFunc("GET /api/v1/sessions/{id}", a.getSession)
	mux.HandleFunc("GET /api/v1/tariffs", a.listTariffs)
	mux.HandleFunc("GET /api/v1/tariffs/{id}", a.getTariff)
	mux.HandleFunc("PUT /api/v1/tariffs/{id}", a.putTariff)
	mux.HandleFunc("DELETE /api/v1/tariffs/{id}", a.deleteTariff)
	mux.HandleFunc("POST /api/v1/tariffs/{id}/preview", a.previewTariff)
	mux.HandleFunc("GET /api/v1/tariffs/assignments", a.listAssignments)
	mux.HandleFunc("PUT /api/v1/tariffs/assignments", a.putAssignment)
	mux.HandleFunc("GET /api/v1/chargers/{id}/location", a.getLocation)
	mux.HandleFunc("PUT /api/v1/chargers/{id}/location", a.putLocation)
	mux.HandleFunc("GET /api/v1/cluster", a.getCluster)
	a.registerSites(mux)
}

// errorStatus maps the core's errors to HTTP statuses, in one table.
var errorStatus = []struct {
	err    error
	status int
}{
	{charging.ErrNotFound, http.StatusNotFound},
	{charging.ErrExists, http.StatusConflict},
	{charging.ErrInvalidInput, http.StatusBadRequest},
	{charging.ErrChargerBlocked, http.StatusForbidden},
	{charging.ErrConflict, http.StatusConflict},
	{charging.ErrNotSupported, http.StatusNotImplemented},
	{tariff.ErrInvalidTariff, http.StatusBadRequest},
	{loadmgmt.ErrInvalidSite, http.StatusBadRequest},
	{loadmgmt.ErrChargerInOtherSite, http.StatusConflict},
}

// StatusFor returns the HTTP status for an error from the core.
func StatusFor(err error) int {
	for _, m := range errorStatus {
		if errors.Is(err, m.err) {
			return m.status
		}
	}
	return http.StatusInternalServerError
}

func (a *API) fail(w http.ResponseWriter, err error) { WriteError(w, a.log, err) }

// WriteError answers err as every operator API route does: the status
// StatusFor gives and {"error": message}; an internal error is logged and
// its details kept from the client.
func WriteError(w http.ResponseWriter, log *slog.Logger, err error) {
	st := StatusFor(err)
	// Messages are one line: joined errors read "a: b", not "a\nb".
	msg := strings.ReplaceAll(err.Error(), "\n", ": ")
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		st = http.StatusRequestEntityTooLarge
		msg = "request body over " + strconv.FormatInt(tooBig.Limit, 10) + " bytes"
	case st == http.StatusInternalServerError:
		log.Error("api request failed", "err", err)
		msg = "internal error; see the server log"
	}
	writeJSON(w, st, map[string]string{"error": msg})
}

// WriteJSON writes v as the operator API's indented JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.Join(charging.ErrInvalidInput, err)
	}
	return nil
}

// Charger is a charger as the API shows it.
type Charger struct {
	charging.Charger
	Connected bool `json:"connected"`
	// Protocol is the OCPP subprotocol of the open connection ("ocpp1.6",
	// "ocpp2.0.1"); absent when the charger is not connected.
	Protocol string `json:"protocol,omitempty"`
}

// protocols is what a Presence that knows the connections' subprotocols
// offers (ocpp.Server does).
type protocols interface {
	Protocol(chargerID string) string
}

func (a *API) charger(c charging.Charger) Charger {
	return ChargerView(c, a.presence)
}

// ChargerView is a charger as the API and dashboard show it: with whether
// it is connected, and over which protocol, when p knows.
func ChargerView(c charging.Charger, p Presence) Charger {
	if c.Connectors == nil {
		c.Connectors = []charging.Connector{}
	}
	out := Charger{Charger: c, Connected: p != nil && p.Connected(c.ID)}
	if pp, ok := p.(protocols); ok && out.Connected {
		out.Protocol = pp.Protocol(c.ID)
	}
	return out
}

// Charger pages: limit defaults to chargersPerPage and is capped at
// maxChargersPerPage (25 000 chargers in one answer were 31 MB).
const (
	chargersPerPage    = 500
	maxChargersPerPage = 1000
)

// listChargers pages the chargers, ordered by id, like sessions: limit and
// an opaque cursor; next_cursor while more follow.
func (a *API) listChargers(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", chargersPerPage)
	if err != nil {
		a.fail(w, err)
		return
	}
	limit = max(min(limit, maxChargersPerPage), 1)
	after := ""
	if c := r.URL.Query().Get("cursor"); c != "" {
		if after, err = charging.DecodeKeyCursor(c); err != nil {
			a.fail(w, err)
			return
		}
	}
	// One more than the page tells whether a next page exists.
	cs, err := a.svc.Store().ListChargersAfter(r.Context(), after, limit+1)
	if err != nil {
		a.fail(w, err)
		return
	}
	resp := map[string]any{}
	if len(cs) > limit {
		cs = cs[:limit]
		resp["next_cursor"] = charging.EncodeKeyCursor(cs[limit-1].ID)
	}
	out := make([]Charger, 0, len(cs))
	for _, c := range cs {
		out = append(out, a.charger(c))
	}
	resp["items"] = out
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) getCharger(w http.ResponseWriter, r *http.Request) {
	c, err := a.svc.Store().GetCharger(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a.charger(c))
}

// deleteCharger removes a charger; its sessions and CDRs stay. A connected
// charger is refused (409) unless force=true: it would otherwise keep
// talking, and with auto-registration come back at once.
func (a *API) deleteCharger(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if a.presence != nil && a.presence.Connected(id) && r.URL.Query().Get("force") != "true" {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "charger " + id + " is connected; it would keep talking (and come back if chargers register automatically): disconnect it first, or delete with force=true"})
		return
	}
	if err := a.svc.DeleteCharger(r.Context(), id); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// NewCharger is the body of POST /api/v1/chargers.
type NewCharger struct {
	ID               string `json:"id"`
	StrictTimestamps bool   `json:"strict_timestamps"`
}

func (a *API) addCharger(w http.ResponseWriter, r *http.Request) {
	var in NewCharger
	if err := decodeBody(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	c, err := a.svc.RegisterCharger(r.Context(), charging.Charger{ID: in.ID, StrictTimestamps: in.StrictTimestamps})
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, a.charger(c))
}

func (a *API) chargerEvents(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", 100)
	if err != nil {
		a.fail(w, err)
		return
	}
	evs, err := a.svc.Store().ListEvents(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		a.fail(w, err)
		return
	}
	out := make([]map[string]any, 0, len(evs))
	for _, e := range evs {
		var payload any = string(e.Payload)
		if json.Valid(e.Payload) {
			payload = json.RawMessage(e.Payload)
		}
		out = append(out, map[string]any{"id": e.ID, "kind": e.Kind, "at": e.At, "payload": payload})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (a *API) listTags(w http.ResponseWriter, r *http.Request) {
	ts, err := a.svc.Store().ListIDTags(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	if ts == nil {
		ts = []charging.IDTag{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ts})
}

func (a *API) addTag(w http.ResponseWriter, r *http.Request) {
	var in charging.IDTag
	if err := decodeBody(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	t, err := a.svc.RegisterTag(r.Context(), in)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

func (a *API) deleteTag(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.DeleteTag(r.Context(), r.PathValue("id")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func intParam(r *http.Request, name string, def int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, errors.Join(charging.ErrInvalidInput, errors.New(name+" must be a positive integer"))
	}
	return n, nil
}

// Session is the operator API's session JSON (DESIGN.md).
type Session struct {
	ID          string `json:"id"`
	ChargerID   string `json:"charger_id"`
	ConnectorID int    `json:"connector_id"`
	// EVSEID is ConnectorID under its 2.0.1 name; EVSEConnectorID the
	// connector within the EVSE the session charged on (absent when not
	// known, as before its start).
	EVSEID          int                    `json:"evse_id"`
	EVSEConnectorID int                    `json:"evse_connector_id,omitempty"`
	TransactionID   string                 `json:"transaction_id"`
	IDTag           string                 `json:"id_tag"`
	Status          charging.SessionStatus `json:"status"`
	KWh             float64                `json:"kwh"`
	DurationMinutes float64                `json:"duration_minutes"`
	MaxPowerKW      float64                `json:"max_power_kw"`
	StartedAt       time.Time              `json:"started_at"`
	EndedAt         *time.Time             `json:"ended_at,omitempty"`
	StopReason      string                 `json:"stop_reason,omitempty"`
	MeterStartWh    int64                  `json:"meter_start_wh"`
	MeterStopWh     *int64                 `json:"meter_stop_wh,omitempty"`
	TotalCost       *Cost                  `json:"total_cost,omitempty"`
	LastUpdated     time.Time              `json:"last_updated"`
	// Samples is the telemetry, on the single-session endpoint only.
	Samples []charging.MeterSample `json:"samples,omitempty"`
}

// Cost is a priced total: decimal amounts written as JSON numbers, to
// tariff.WirePlaces decimals.
type Cost struct {
	Currency string        `json:"currency"`
	ExclVat  tariff.Number `json:"excl_vat"`
	InclVat  tariff.Number `json:"incl_vat"`
}

// SessionView is the API view of a canonical session at time now.
func SessionView(s charging.Session, now time.Time) Session {
	return Session{
		ID: s.ID, ChargerID: s.ChargerID, ConnectorID: s.ConnectorID, EVSEID: s.ConnectorID, EVSEConnectorID: s.EVSEConnectorID,
		TransactionID: s.TransactionID,
		IDTag:         s.IDTag, Status: s.Status, KWh: round(s.KWh(), 3),
		DurationMinutes: round(s.Duration(now).Minutes(), 2), MaxPowerKW: round(s.MaxPowerKW, 3),
		StartedAt: s.StartedAt, EndedAt: s.EndedAt, StopReason: s.StopReason,
		MeterStartWh: s.MeterStartWh, MeterStopWh: s.MeterStopWh, LastUpdated: s.LastUpdated,
	}
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := intParam(r, "limit", 50)
	if err != nil {
		a.fail(w, err)
		return
	}
	f := charging.SessionFilter{
		Status: charging.SessionStatus(q.Get("status")), ChargerID: q.Get("charger_id"),
		Limit: min(limit, 500), Cursor: q.Get("cursor"),
	}
	if f.Status != "" && !f.Status.Valid() {
		a.fail(w, errors.Join(charging.ErrInvalidInput, errors.New("status must be one of reserved, pending, active, stopping, completed, interrupted, invalid")))
		return
	}
	ss, next, err := a.svc.Store().ListSessions(r.Context(), f)
	if err != nil {
		a.fail(w, err)
		return
	}
	now := a.svc.Clock().Now()
	items := make([]Session, 0, len(ss))
	for _, s := range ss {
		items = append(items, SessionView(s, now))
	}
	resp := map[string]any{"items": items}
	if next != "" {
		resp["next_cursor"] = next
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) getSession(w http.ResponseWriter, r *http.Request) {
	s, err := a.svc.Store().GetSession(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	samples, err := a.svc.Store().SessionSamples(r.Context(), s.ID)
	if err != nil {
		a.fail(w, err)
		return
	}
	v := SessionView(s, a.svc.Clock().Now())
	a.price(r.Context(), &v, s, samples)
	v.Samples = samples
	writeJSON(w, http.StatusOK, v)
}
