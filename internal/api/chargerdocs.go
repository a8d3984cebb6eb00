package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// chargerDocs lists a charger's documents of one kind (charging profiles
// and availability requests are stored by the command path).
func (a *API) chargerDocs(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		docs, err := a.svc.Docs()
		if err != nil {
			a.fail(w, err)
			return
		}
		list, _, err := docs.ListDocs(r.Context(), charging.DocQuery{Kind: kind, Owner: r.PathValue("id"), Limit: 1000})
		if err != nil {
			a.fail(w, err)
			return
		}
		items := make([]json.RawMessage, 0, len(list))
		for _, d := range list {
			items = append(items, d.Body)
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
	}
}

// localList shows the local authorization list last sent to a charger,
// with its version.
func (a *API) localList(w http.ResponseWriter, r *http.Request) {
	docs, err := a.svc.Docs()
	if err != nil {
		a.fail(w, err)
		return
	}
	d, err := docs.GetDoc(r.Context(), charging.DocLocalList, r.PathValue("id"))
	if errors.Is(err, charging.ErrNotFound) {
		writeJSON(w, http.StatusOK, map[string]any{"version": 0, "entries": map[string]any{}})
		return
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(d.Body)
}
