package security

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/charging"
)

// Routes serves the security part of the operator API:
//
//	GET  /api/v1/security                      every charger's view
//	GET  /api/v1/chargers/{id}/security        one charger's view
//	PUT  /api/v1/chargers/{id}/security        set profile and password (Change)
//	POST /api/v1/chargers/{id}/security/rotate new password via AuthorizationKey
type Routes struct {
	Guard     *Guard
	Caps      Capabilities
	Configure Configure
	// Chargers lists registered chargers, so that the list shows those
	// without a record too.
	Chargers func(r *http.Request) ([]string, error)
}

// Register adds the routes to mux.
func (rt *Routes) Register(mux api.Mux) {
	mux.HandleFunc("GET /api/v1/security", rt.list)
	mux.HandleFunc("GET /api/v1/chargers/{id}/security", rt.get)
	mux.HandleFunc("PUT /api/v1/chargers/{id}/security", rt.put)
	mux.HandleFunc("POST /api/v1/chargers/{id}/security/rotate", rt.rotate)
}

func (rt *Routes) list(w http.ResponseWriter, r *http.Request) {
	recs, err := rt.Guard.Records(r.Context())
	if err != nil {
		rt.fail(w, err)
		return
	}
	byID := make(map[string]Record, len(recs))
	for _, rec := range recs {
		byID[rec.ChargerID] = rec
	}
	out := []View{}
	if rt.Chargers != nil {
		ids, err := rt.Chargers(r)
		if err != nil {
			rt.fail(w, err)
			return
		}
		for _, id := range ids {
			rec, ok := byID[id]
			if !ok {
				rec = Record{ChargerID: id}
			}
			out = append(out, rt.Guard.View(rec))
		}
	} else {
		for _, rec := range recs {
			out = append(out, rt.Guard.View(rec))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (rt *Routes) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if rt.Guard.cfg.Known != nil && !rt.Guard.cfg.Known(r.Context(), id) {
		rt.fail(w, charging.ErrNotFound)
		return
	}
	rec, err := rt.Guard.Record(r.Context(), id)
	if err != nil {
		rt.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rt.Guard.View(rec))
}

func (rt *Routes) put(w http.ResponseWriter, r *http.Request) {
	var c Change
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		rt.fail(w, errors.Join(charging.ErrInvalidInput, err))
		return
	}
	if r.URL.Query().Get("allow_downgrade") == "true" {
		c.AllowDowngrade = true
	}
	v, err := rt.Guard.Set(r.Context(), r.PathValue("id"), c, rt.Caps)
	if err != nil {
		rt.fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, v)
}

func (rt *Routes) rotate(w http.ResponseWriter, r *http.Request) {
	if rt.Configure == nil {
		rt.fail(w, charging.ErrNotSupported)
		return
	}
	v, err := rt.Guard.Rotate(r.Context(), r.PathValue("id"), rt.Configure)
	if errors.Is(err, ErrRotation) {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	if err != nil {
		rt.fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, v)
}

func (rt *Routes) fail(w http.ResponseWriter, err error) { api.WriteError(w, rt.Guard.cfg.Log, err) }

func writeJSON(w http.ResponseWriter, status int, v any) { api.WriteJSON(w, status, v) }
