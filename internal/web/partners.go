package web

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/ocpi"
)

// shownPushes is how many waiting pushes a party's row lists.
const shownPushes = 10

// Party is an OCPI party as the operator sees it (GET /api/v1/ocpi/parties):
// no tokens.
type Party struct {
	Key         string                 `json:"key"`
	CountryCode string                 `json:"country_code"`
	PartyID     string                 `json:"party_id"`
	Status      ocpi.PeerStatus        `json:"status"`
	Version     string                 `json:"version,omitempty"`
	VersionsURL string                 `json:"versions_url,omitempty"`
	Roles       []ocpi.CredentialsRole `json:"roles"`
	Endpoints   []ocpi.Endpoint        `json:"endpoints"`
	Created     time.Time              `json:"created"`
	Updated     time.Time              `json:"updated"`
	// Outbox is how many pushes wait; Pushes are the first of them, the
	// one being tried first (Attempts > 0 means it failed so far).
	Outbox int             `json:"outbox"`
	Pushes []ocpi.PushView `json:"pushes"`
}

func (d *Dashboard) parties(ctx context.Context) ([]Party, error) {
	ps, err := d.ocpi.Peers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Party, 0, len(ps))
	for _, p := range ps {
		v := Party{Key: p.Key, CountryCode: p.CountryCode, PartyID: p.PartyID, Status: p.Status, Version: p.Version, VersionsURL: p.VersionsURL,
			Roles: p.Roles, Endpoints: p.Endpoints, Created: p.Created, Updated: p.Updated}
		if v.Roles == nil {
			v.Roles = []ocpi.CredentialsRole{}
		}
		if v.Endpoints == nil {
			v.Endpoints = []ocpi.Endpoint{}
		}
		if v.Pushes, v.Outbox, err = d.ocpi.Pushes(ctx, p.Key, shownPushes); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

type partnersData struct {
	Available                  bool
	Rows                       []Party
	VersionsURL                string
	Delivered, Failed, Dropped int64
}

func (d *Dashboard) partnersPage(w http.ResponseWriter, r *http.Request) {
	data := partnersData{Available: d.ocpi != nil}
	if d.ocpi != nil {
		var err error
		if data.Rows, err = d.parties(r.Context()); err != nil {
			d.fail(w, r, err)
			return
		}
		data.VersionsURL = d.ocpi.VersionsURL()
		data.Delivered, data.Failed, data.Dropped = d.ocpi.PushCounts()
	}
	d.render(w, r, http.StatusOK, "partners", "OCPI parties", "partners", data)
}

// ocpiOff answers when OCPI is not on.
func (d *Dashboard) ocpiOff(w http.ResponseWriter) bool {
	if d.ocpi == nil {
		writeError(w, http.StatusNotImplemented, "OCPI is not enabled on this server")
		return true
	}
	return false
}

// failAPI answers an operator API error like internal/api does.
func (d *Dashboard) failAPI(w http.ResponseWriter, err error) {
	status := api.StatusFor(err)
	if status >= 500 {
		d.log.Error("operator request failed", "err", err)
		writeError(w, status, "internal error; see the server log")
		return
	}
	writeError(w, status, err.Error())
}

func (d *Dashboard) listParties(w http.ResponseWriter, r *http.Request) {
	if d.ocpiOff(w) {
		return
	}
	ps, err := d.parties(r.Context())
	if err != nil {
		d.failAPI(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ps})
}

// registerParty registers with a party from its versions URL and the
// token A it gave us (the credentials handshake, OCPI 2.2.1 §7).
func (d *Dashboard) registerParty(w http.ResponseWriter, r *http.Request) {
	if d.ocpiOff(w) {
		return
	}
	var in struct {
		VersionsURL string `json:"versions_url"`
		Token       string `json:"token"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8192))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.VersionsURL == "" || in.Token == "" {
		writeError(w, http.StatusBadRequest, `body must be {"versions_url": "https://…/versions", "token": "TOKEN_A"}`)
		return
	}
	p, err := d.ocpi.Register(r.Context(), in.VersionsURL, in.Token)
	if err != nil {
		// The peer's refusal or unreachability is the operator's to fix:
		// say what happened.
		if api.StatusFor(err) >= 500 {
			d.log.Warn("OCPI registration failed", "url", in.VersionsURL, "err", err)
			writeError(w, http.StatusBadGateway, err.Error())
			return
		}
		d.failAPI(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"key": p.Key, "status": p.Status})
}

func (d *Dashboard) unregisterParty(w http.ResponseWriter, r *http.Request) {
	if d.ocpiOff(w) {
		return
	}
	if err := d.ocpi.Unregister(r.Context(), r.PathValue("key")); err != nil {
		d.failAPI(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (d *Dashboard) retryParty(w http.ResponseWriter, r *http.Request) {
	if d.ocpiOff(w) {
		return
	}
	if err := d.ocpi.RetryNow(r.Context(), r.PathValue("key")); err != nil {
		d.failAPI(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "retrying"})
}

func (d *Dashboard) dropPush(w http.ResponseWriter, r *http.Request) {
	if d.ocpiOff(w) {
		return
	}
	if err := d.ocpi.DropPush(r.Context(), r.PathValue("key"), r.PathValue("id")); err != nil {
		d.failAPI(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
