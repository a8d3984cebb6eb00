package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// Pricer prices one session; nil means it has no price.
type Pricer interface {
	Price(ctx context.Context, s charging.Session, samples []charging.MeterSample) (*pricing.Priced, error)
	// Preview prices a session with the given tariff instead of its own.
	Preview(ctx context.Context, t *tariff.Tariff, s charging.Session) (*pricing.Priced, error)
}

// WithPricing enables the tariff, assignment and location endpoints and
// the sessions' total_cost.
func (a *API) WithPricing(c *pricing.Catalog, p Pricer) *API {
	a.catalog, a.pricer = c, p
	return a
}

// CostOf is the total_cost of a priced session (nil when not priced).
func CostOf(p *pricing.Priced) *Cost {
	if p == nil {
		return nil
	}
	c := p.TotalCost()
	return &Cost{Currency: p.Currency, ExclVat: c.ExclVAT, InclVat: *c.InclVAT}
}

// price sets the session's total_cost; a failure leaves it out.
func (a *API) price(ctx context.Context, v *Session, s charging.Session, samples []charging.MeterSample) {
	if a.pricer == nil {
		return
	}
	p, err := a.pricer.Price(ctx, s, samples)
	if err != nil {
		a.log.Warn("session shown without a price: pricing failed", "session", s.ID, "err", err)
		return
	}
	v.TotalCost = CostOf(p)
}

func (a *API) pricingOff(w http.ResponseWriter) bool {
	if a.catalog == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "tariffs are not available on this server (its store keeps no documents)"})
		return true
	}
	return false
}

// Problem is one validation problem of a tariff, with its JSON path.
type Problem struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// failTariff answers a tariff error, listing the problems of an invalid one.
func (a *API) failTariff(w http.ResponseWriter, err error) {
	var ve *tariff.ValidationError
	if !errors.As(err, &ve) {
		a.fail(w, err)
		return
	}
	out := make([]Problem, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = Problem{Field: p.Field, Problem: p.Problem}
	}
	writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error(), "problems": out})
}

// maxTariffBody bounds a tariff PUT body.
const maxTariffBody = 1 << 20

// decodeTariff reads the body of PUT /api/v1/tariffs/{id}: one OCPI 2.2.1
// Tariff object without unknown fields and nothing after it. Its id must
// be the path's; when it has none it takes the path's. It does not
// validate the tariff (the catalog does).
func decodeTariff(body []byte, id string) (*tariff.Tariff, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: no tariff id in the URL", charging.ErrInvalidInput)
	}
	if err := pricing.CheckTariffID(id); err != nil {
		return nil, fmt.Errorf("%w: tariff id in the URL: %v", charging.ErrInvalidInput, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var t tariff.Tariff
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: the body is not an OCPI 2.2.1 Tariff object: %v", charging.ErrInvalidInput, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: the body has more than one JSON value", charging.ErrInvalidInput)
	}
	switch t.ID {
	case "":
		t.ID = id
	case id:
	default:
		return nil, &tariff.ValidationError{Problems: []tariff.FieldError{{Field: "id", Problem: fmt.Sprintf("%q is not the id in the URL (%q)", t.ID, id)}}}
	}
	return &t, nil
}

func (a *API) listTariffs(w http.ResponseWriter, r *http.Request) {
	if a.pricingOff(w) {
		return
	}
	ts, err := a.catalog.Tariffs(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ts})
}

func (a *API) getTariff(w http.ResponseWriter, r *http.Request) {
	if a.pricingOff(w) {
		return
	}
	t, err := a.catalog.Tariff(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a *API) putTariff(w http.ResponseWriter, r *http.Request) {
	if a.pricingOff(w) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTariffBody))
	if err != nil {
		a.fail(w, fmt.Errorf("%w: read body: %v", charging.ErrInvalidInput, err))
		return
	}
	t, err := decodeTariff(body, r.PathValue("id"))
	if err != nil {
		a.failTariff(w, err)
		return
	}
	created, err := a.catalog.PutTariff(r.Context(), t)
	if err != nil {
		a.failTariff(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, t)
}

// PreviewRequest is the body of POST /api/v1/tariffs/{id}/preview.
type PreviewRequest struct {
	SessionID string `json:"session_id"`
}

// previewTariff prices a stored session with this tariff, whatever tariff
// the session's connector has: what the session would have cost.
func (a *API) previewTariff(w http.ResponseWriter, r *http.Request) {
	if a.pricingOff(w) {
		return
	}
	var in PreviewRequest
	if err := decodeBody(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	if in.SessionID == "" {
		a.fail(w, fmt.Errorf("%w: session_id is required", charging.ErrInvalidInput))
		return
	}
	t, err := a.catalog.Tariff(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	s, err := a.svc.Store().GetSession(r.Context(), in.SessionID)
	if err != nil {
		a.fail(w, err)
		return
	}
	p, err := a.pricer.Preview(r.Context(), t, s)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a *API) deleteTariff(w http.ResponseWriter, r *http.Request) {
	if a.pricingOff(w) {
		return
	}
	if err := a.catalog.DeleteTariff(r.Context(), r.PathValue("id")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Assignments is the body of GET /api/v1/tariffs/assignments.
type Assignments struct {
	// Default is the tariff of connectors without an assignment of their
	// own or of their charger.
	Default string               `json:"default,omitempty"`
	Items   []pricing.Assignment `json:"items"`
}

func (a *API) assignments(ctx context.Context) (Assignments, error) {
	as, err := a.catalog.Assignments(ctx)
	if err != nil {
		return Assignments{}, err
	}
	out := Assignments{Items: []pricing.Assignment{}}
	for _, x := range as {
		if x.Default {
			out.Default = x.TariffID
			continue
		}
		out.Items = append(out.Items, x)
	}
	return out, nil
}

func (a *API) listAssignments(w http.ResponseWriter, r *http.Request) {
	if a.pricingOff(w) {
		return
	}
	out, err := a.assignments(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) putAssignment(w http.ResponseWriter, r *http.Request) {
	if a.pricingOff(w) {
		return
	}
	var in pricing.Assignment
	if err := decodeBody(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	if _, err := a.catalog.Assign(r.Context(), in); err != nil {
		a.fail(w, err)
		return
	}
	out, err := a.assignments(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getLocation(w http.ResponseWriter, r *http.Request) {
	if a.pricingOff(w) {
		return
	}
	l, err := a.catalog.Location(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (a *API) putLocation(w http.ResponseWriter, r *http.Request) {
	if a.pricingOff(w) {
		return
	}
	var in pricing.Location
	if err := decodeBody(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	id := r.PathValue("id")
	if in.ChargerID != "" && in.ChargerID != id {
		a.fail(w, fmt.Errorf("%w: charger_id %q is not the charger in the URL (%q)", charging.ErrInvalidInput, in.ChargerID, id))
		return
	}
	in.ChargerID = id
	l, err := a.catalog.SetLocation(r.Context(), in)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}
