package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
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
	Transaction string
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
		if row, ok := profileOf(doc.Body); ok {
			out = append(out, row)
		}
	}
	slices.SortStableFunc(out, func(a, b profileRow) int { return a.ConnectorID - b.ConnectorID })
	return out, nil
}

// schedulePeriods is a charging schedule's periods, the same in OCPP 1.6
// and 2.0.1.
type schedulePeriods struct {
	Unit    string `json:"chargingRateUnit"`
	Periods []struct {
		Start int     `json:"startPeriod"`
		Limit float64 `json:"limit"`
	} `json:"chargingSchedulePeriod"`
}

func (s schedulePeriods) limits() []string {
	var out []string
	for _, p := range s.Periods {
		out = append(out, fmt.Sprintf("%g %s from %ds", p.Limit, s.Unit, p.Start))
	}
	return out
}

// profileOf reads a stored SetChargingProfile request: 1.6's
// (connectorId, csChargingProfiles with one schedule and a numeric
// transactionId) or 2.0.1's (evseId, chargingProfile with a list of
// schedules and the station's transactionId string).
func profileOf(body []byte) (profileRow, bool) {
	var req struct {
		ConnectorID *int `json:"connectorId"`
		EVSEID      *int `json:"evseId"`
	}
	if json.Unmarshal(body, &req) != nil {
		return profileRow{}, false
	}
	type common struct {
		StackLevel int    `json:"stackLevel"`
		Purpose    string `json:"chargingProfilePurpose"`
		Kind       string `json:"chargingProfileKind"`
	}
	if req.EVSEID != nil {
		var r struct {
			P struct {
				common
				ID        int               `json:"id"`
				Tx        string            `json:"transactionId"`
				Schedules []schedulePeriods `json:"chargingSchedule"`
			} `json:"chargingProfile"`
		}
		if json.Unmarshal(body, &r) != nil {
			return profileRow{}, false
		}
		var limits []string
		for _, sc := range r.P.Schedules {
			limits = append(limits, sc.limits()...)
		}
		return profileRow{ConnectorID: *req.EVSEID, ID: r.P.ID, Purpose: r.P.Purpose, Kind: r.P.Kind, StackLevel: r.P.StackLevel,
			Transaction: r.P.Tx, Limits: strings.Join(limits, ", "), LoadMgmt: r.P.ID >= loadmgmt.ProfileBase}, true
	}
	var r struct {
		P struct {
			common
			ID       int             `json:"chargingProfileId"`
			Tx       int64           `json:"transactionId"`
			Schedule schedulePeriods `json:"chargingSchedule"`
		} `json:"csChargingProfiles"`
	}
	if req.ConnectorID == nil || json.Unmarshal(body, &r) != nil {
		return profileRow{}, false
	}
	tx := ""
	if r.P.Tx != 0 {
		tx = strconv.FormatInt(r.P.Tx, 10)
	}
	return profileRow{ConnectorID: *req.ConnectorID, ID: r.P.ID, Purpose: r.P.Purpose, Kind: r.P.Kind, StackLevel: r.P.StackLevel,
		Transaction: tx, Limits: strings.Join(r.P.Schedule.limits(), ", "), LoadMgmt: r.P.ID >= loadmgmt.ProfileBase}, true
}
