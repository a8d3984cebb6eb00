package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// chargerConsole is the charger page's configuration part: what the
// charger last said about firmware and diagnostics, the charging profiles
// and local list the server sent it, and its raw OCPP messages when the
// operator watches them.
type chargerConsole struct {
	Firmware, Diagnostics *statusReport
	Profiles              []string // charging profiles in force, as JSON
	LocalListVersion      int
	LocalListEntries      int
	FramesAvailable       bool
	Watching              bool
	Frames                []ocpp.LoggedFrame // newest first
}

// statusReport is the latest Firmware/DiagnosticsStatusNotification.
type statusReport struct {
	Status string
	At     charging.ChargerEvent
}

// maxShownFrames bounds the message log on the page.
const maxShownFrames = 200

func (d *Dashboard) chargerConsole(ctx context.Context, chargerID string, events []charging.ChargerEvent) (*chargerConsole, error) {
	cc := &chargerConsole{FramesAvailable: d.frames != nil}
	for _, e := range events { // newest first
		var p struct {
			Status string `json:"status"`
		}
		switch e.Kind {
		case "FirmwareStatusNotification":
			if cc.Firmware == nil && json.Unmarshal(e.Payload, &p) == nil {
				cc.Firmware = &statusReport{Status: p.Status, At: e}
			}
		case "DiagnosticsStatusNotification":
			if cc.Diagnostics == nil && json.Unmarshal(e.Payload, &p) == nil {
				cc.Diagnostics = &statusReport{Status: p.Status, At: e}
			}
		}
	}
	if docs, err := d.svc.Docs(); err == nil {
		ps, _, err := docs.ListDocs(ctx, charging.DocQuery{Kind: charging.DocChargingProfile, Owner: chargerID, Limit: 100})
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			cc.Profiles = append(cc.Profiles, string(p.Body))
		}
		ll, err := docs.GetDoc(ctx, charging.DocLocalList, chargerID)
		switch {
		case err == nil:
			var v struct {
				Version int                        `json:"version"`
				Entries map[string]json.RawMessage `json:"entries"`
			}
			if json.Unmarshal(ll.Body, &v) == nil {
				cc.LocalListVersion, cc.LocalListEntries = v.Version, len(v.Entries)
			}
		case !errors.Is(err, charging.ErrNotFound):
			return nil, err
		}
	}
	if d.frames != nil {
		cc.Watching = d.frames.Watching(chargerID)
		fs := d.frames.Frames(chargerID)
		slices.Reverse(fs)
		cc.Frames = fs[:min(len(fs), maxShownFrames)]
	}
	return cc, nil
}

// FramesView is the body of GET /api/v1/chargers/{id}/frames.
type FramesView struct {
	Enabled bool               `json:"enabled"`
	Items   []ocpp.LoggedFrame `json:"items"`
}

func (d *Dashboard) getFrames(w http.ResponseWriter, r *http.Request) {
	if d.frames == nil {
		writeError(w, http.StatusNotImplemented, "this server keeps no OCPP message log")
		return
	}
	id := r.PathValue("id")
	items := d.frames.Frames(id)
	if items == nil {
		items = []ocpp.LoggedFrame{}
	}
	writeJSON(w, http.StatusOK, FramesView{Enabled: d.frames.Watching(id), Items: items})
}

// putFrames switches a charger's message log on or off; off forgets it.
func (d *Dashboard) putFrames(w http.ResponseWriter, r *http.Request) {
	if d.frames == nil {
		writeError(w, http.StatusNotImplemented, "this server keeps no OCPP message log")
		return
	}
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.Enabled == nil {
		writeError(w, http.StatusBadRequest, `body must be {"enabled": true} or {"enabled": false}`)
		return
	}
	id := r.PathValue("id")
	if _, err := d.svc.Store().GetCharger(r.Context(), id); err != nil {
		if errors.Is(err, charging.ErrNotFound) {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		d.log.Error("message log switch failed", "charger", id, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error; see the server log")
		return
	}
	d.frames.Watch(id, *in.Enabled)
	d.log.Info("OCPP message log switched", "charger", id, "enabled", *in.Enabled)
	writeJSON(w, http.StatusOK, FramesView{Enabled: *in.Enabled, Items: []ocpp.LoggedFrame{}})
}
