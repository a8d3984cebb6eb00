package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/loadmgmt"
)

// Sites gives the sites and their allocations (loadmgmt.Manager).
type Sites interface {
	Status(ctx context.Context, id string) (loadmgmt.SiteStatus, bool, error)
	Statuses(ctx context.Context) ([]loadmgmt.SiteStatus, error)
	SiteOf(chargerID string) (string, bool)
}

type sitesData struct {
	Sites []loadmgmt.SiteStatus
	Off   bool
}

func (d *Dashboard) sitesPage(w http.ResponseWriter, r *http.Request) {
	if d.sites == nil {
		d.render(w, r, http.StatusOK, "sites", "Sites", "sites", sitesData{Off: true})
		return
	}
	list, err := d.sites.Statuses(r.Context())
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.render(w, r, http.StatusOK, "sites", "Sites", "sites", sitesData{Sites: list})
}

func (d *Dashboard) sitePage(w http.ResponseWriter, r *http.Request) {
	if d.sites == nil {
		d.fail(w, r, fmt.Errorf("site %s: %w (this server keeps no sites)", r.PathValue("id"), charging.ErrNotFound))
		return
	}
	s, _, err := d.sites.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.render(w, r, http.StatusOK, "site", "Site "+s.ID, "sites", s)
}

// profileRow is a charging profile in force at a charger, as the charger
// page lists it.
type profileRow struct {
	ConnectorID int
	ID          int
	Purpose     string
	Kind        string
	StackLevel  int
	Transaction int64
	Limits      string
	LoadMgmt    bool
}

// profiles reads the charging profiles the charger accepted (stored by the
// command path), newest first.
func (d *Dashboard) profiles(ctx context.Context, chargerID string) ([]profileRow, error) {
	docs, err := d.svc.Docs()
	if err != nil {
		return nil, nil // a store without documents keeps no profiles
	}
	list, _, err := docs.ListDocs(ctx, charging.DocQuery{Kind: charging.DocChargingProfile, Owner: chargerID, Limit: 50, Newest: true})
	if err != nil {
		return nil, err
	}
	var out []profileRow
	for _, doc := range list {
		var req struct {
			ConnectorID int `json:"connectorId"`
			P           struct {
				ID         int    `json:"chargingProfileId"`
				Tx         int64  `json:"transactionId"`
				StackLevel int    `json:"stackLevel"`
				Purpose    string `json:"chargingProfilePurpose"`
				Kind       string `json:"chargingProfileKind"`
				Schedule   struct {
					Unit    string `json:"chargingRateUnit"`
					Periods []struct {
						Start int     `json:"startPeriod"`
						Limit float64 `json:"limit"`
					} `json:"chargingSchedulePeriod"`
				} `json:"chargingSchedule"`
			} `json:"csChargingProfiles"`
		}
		if json.Unmarshal(doc.Body, &req) != nil {
			continue
		}
		var limits []string
		for _, p := range req.P.Schedule.Periods {
			limits = append(limits, fmt.Sprintf("%g %s from %ds", p.Limit, req.P.Schedule.Unit, p.Start))
		}
		out = append(out, profileRow{ConnectorID: req.ConnectorID, ID: req.P.ID, Purpose: req.P.Purpose, Kind: req.P.Kind,
			StackLevel: req.P.StackLevel, Transaction: req.P.Tx, Limits: strings.Join(limits, ", "), LoadMgmt: req.P.ID >= loadmgmt.ProfileBase})
	}
	slices.SortStableFunc(out, func(a, b profileRow) int { return a.ConnectorID - b.ConnectorID })
	return out, nil
}
