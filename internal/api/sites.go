package api

import (
	"context"
	"fmt"
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
	var b siteBody
	if err := decodeBody(r, &b); err != nil {
		a.fail(w, err)
		return
	}
	id := r.PathValue("id")
	if b.ID != "" && b.ID != id {
		a.fail(w, fmt.Errorf("%w: body id %q differs from the path's %q", charging.ErrInvalidInput, b.ID, id))
		return
	}
	s, err := a.sites.PutSite(r.Context(), loadmgmt.Site{ID: id, Name: b.Name, MaxPowerKW: b.MaxPowerKW, MaxCurrentA: b.MaxCurrentA,
		Chargers: b.Chargers, ChargerMaxKW: b.ChargerMaxKW, Priorities: b.Priorities})
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
