package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/loadmgmt"
)

// SiteManager keeps sites and their allocations (loadmgmt.Manager).
type SiteManager interface {
	PutSite(ctx context.Context, s loadmgmt.Site) (loadmgmt.Site, error)
	DeleteSite(ctx context.Context, id string) error
	Status(ctx context.Context, id string) (loadmgmt.SiteStatus, bool, error)
	Statuses(ctx context.Context) ([]loadmgmt.SiteStatus, error)
}

// WithSites serves /api/v1/sites through m.
func (a *API) WithSites(m SiteManager) *API {
	a.sites = m
	return a
}

// registerSites adds the site routes (answering 501 without a manager, so
// the routes and the OpenAPI document agree either way).
func (a *API) registerSites(mux Mux) {
	mux.HandleFunc("GET /api/v1/sites", a.listSites)
	mux.HandleFunc("GET /api/v1/sites/{id}", a.getSite)
	mux.HandleFunc("PUT /api/v1/sites/{id}", a.putSite)
	mux.HandleFunc("DELETE /api/v1/sites/{id}", a.deleteSite)
}

// siteBody is what PUT /api/v1/sites/{id} takes.
type siteBody struct {
	ID           string              `json:"id,omitempty"`
	Name         string              `json:"name"`
	MaxPowerKW   float64             `json:"max_power_kw"`
	MaxCurrentA  float64             `json:"max_current_a,omitempty"`
	Chargers     []string            `json:"chargers"`
	ChargerMaxKW map[string]float64  `json:"charger_max_kw,omitempty"`
	Priorities   loadmgmt.Priorities `json:"priorities,omitzero"`
}

func (a *API) sitesOff(w http.ResponseWriter) bool {
	if a.sites == nil {
		a.fail(w, fmt.Errorf("%w: sites need a store that keeps documents", charging.ErrNotSupported))
		return true
	}
	return false
}

func (a *API) listSites(w http.ResponseWriter, r *http.Request) {
	if a.sitesOff(w) {
		return
	}
	list, err := a.sites.Statuses(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

func (a *API) getSite(w http.ResponseWriter, r *http.Request) {
	if a.sitesOff(w) {
		return
	}
	s, _, err := a.sites.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (a *API) putSite(w http.ResponseWriter, r *http.Request) {
	if a.sitesOff(w) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		a.fail(w, fmt.Errorf("%w: read body: %v", charging.ErrInvalidInput, err))
		return
	}
	site, err := decodeSite(body, r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	s, err := a.sites.PutSite(r.Context(), site)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (a *API) deleteSite(w http.ResponseWriter, r *http.Request) {
	if a.sitesOff(w) {
		return
	}
	if err := a.sites.DeleteSite(r.Context(), r.PathValue("id")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// decodeSite reads the body of PUT /api/v1/sites/{id}: one JSON object
// without unknown fields, whose id (when given) is the path's.
func decodeSite(body []byte, id string) (loadmgmt.Site, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var b siteBody
	if err := dec.Decode(&b); err != nil {
		return loadmgmt.Site{}, fmt.Errorf("%w: %v", charging.ErrInvalidInput, err)
	}
	if dec.More() {
		return loadmgmt.Site{}, fmt.Errorf("%w: more than one JSON value in the body", charging.ErrInvalidInput)
	}
	if b.ID != "" && b.ID != id {
		return loadmgmt.Site{}, fmt.Errorf("%w: body id %q differs from the path's %q", charging.ErrInvalidInput, b.ID, id)
	}
	return loadmgmt.Site{ID: id, Name: b.Name, MaxPowerKW: b.MaxPowerKW, MaxCurrentA: b.MaxCurrentA,
		Chargers: b.Chargers, ChargerMaxKW: b.ChargerMaxKW, Priorities: b.Priorities}, nil
}
