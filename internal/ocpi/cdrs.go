package ocpi

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// CDR is the OCPI 2.2.1 CDR object. CDRs are immutable: one is issued
// when a session that charged ends (id the session id), stored (kind
// ocpi_cdr, Updated its last_updated) and never changed; a correction
// would be a credit CDR.
type CDR struct {
	CountryCode            string                  `json:"country_code"`
	PartyID                string                  `json:"party_id"`
	ID                     string                  `json:"id"`
	StartDateTime          DateTime                `json:"start_date_time"`
	EndDateTime            DateTime                `json:"end_date_time"`
	SessionID              string                  `json:"session_id,omitempty"`
	CdrToken               CdrToken                `json:"cdr_token"`
	AuthMethod             string                  `json:"auth_method"`
	AuthorizationReference string                  `json:"authorization_reference,omitempty"`
	CdrLocation            CdrLocation             `json:"cdr_location"`
	MeterID                string                  `json:"meter_id,omitempty"`
	Currency               string                  `json:"currency"`
	Tariffs                []json.RawMessage       `json:"tariffs,omitempty"`
	ChargingPeriods        []tariff.ChargingPeriod `json:"charging_periods"`
	TotalCost              tariff.Price            `json:"total_cost"`
	TotalFixedCost         *tariff.Price           `json:"total_fixed_cost,omitempty"`
	TotalEnergy            tariff.Number           `json:"total_energy"`
	TotalEnergyCost        *tariff.Price           `json:"total_energy_cost,omitempty"`
	TotalTime              tariff.Number           `json:"total_time"`
	TotalTimeCost          *tariff.Price           `json:"total_time_cost,omitempty"`
	TotalParkingTime       *tariff.Number          `json:"total_parking_time,omitempty"`
	TotalParkingCost       *tariff.Price           `json:"total_parking_cost,omitempty"`
	TotalReservationCost   *tariff.Price           `json:"total_reservation_cost,omitempty"`
	Remark                 string                  `json:"remark,omitempty"`
	LastUpdated            DateTime                `json:"last_updated"`
}

// CdrLocation is where a CDR's session took place.
type CdrLocation struct {
	ID                 string      `json:"id"`
	Name               string      `json:"name,omitempty"`
	Address            string      `json:"address"`
	City               string      `json:"city"`
	PostalCode         string      `json:"postal_code,omitempty"`
	Country            string      `json:"country"`
	Coordinates        GeoLocation `json:"coordinates"`
	EVSEUID            string      `json:"evse_uid"`
	EVSEID             string      `json:"evse_id"`
	ConnectorID        string      `json:"connector_id"`
	ConnectorStandard  string      `json:"connector_standard"`
	ConnectorFormat    string      `json:"connector_format"`
	ConnectorPowerType string      `json:"connector_power_type"`
}

// cdrDue reports whether an ended session gets a CDR: it had a
// transaction and was not refused.
func cdrDue(s charging.Session) bool {
	return s.TransactionID != "" && (s.Status == charging.SessionCompleted || s.Status == charging.SessionInterrupted) && s.EndedAt != nil
}

// num rounds x to places decimals as an OCPI number.
func num(x float64, places int) tariff.Number {
	p := math.Pow(10, float64(places))
	return tariff.N(strconv.FormatFloat(math.Round(x*p)/p, 'f', -1, 64))
}

// cdrOf builds the CDR of an ended session from its last Session view.
func (c *CPO) cdrOf(ctx context.Context, s charging.Session, view Session) (CDR, error) {
	li, err := c.locationInfo(ctx, s.ChargerID)
	if err != nil {
		return CDR{}, err
	}
	c.locationDefaults(&li, s.ChargerID)
	locID, locName, err := c.chargerLocation(ctx, s.ChargerID)
	if err != nil {
		return CDR{}, err
	}
	// The connector's standard: its plug's, when the charger described it.
	std, format, power := li.Standard, li.Format, li.PowerType
	if ch, err := c.store.GetCharger(ctx, s.ChargerID); err == nil {
		for _, e := range ch.Connectors {
			if k, ok := e.EVSEConnector(charging.DefaultEVSEConnector(s.ConnectorID, s.EVSEConnectorID)); ok && e.ConnectorID == s.ConnectorID {
				std, format, power = plugStandard(k, li)
			}
		}
	}
	end := *s.EndedAt
	hours := s.Duration(end).Hours()
	cdr := CDR{
		CountryCode: c.cfg.Party.CountryCode, PartyID: c.cfg.Party.PartyID, ID: s.ID,
		StartDateTime: DateTime(s.StartedAt), EndDateTime: DateTime(end), SessionID: s.ID,
		CdrToken: view.CdrToken, AuthMethod: view.AuthMethod, AuthorizationReference: view.AuthorizationReference,
		CdrLocation: CdrLocation{ID: locID, Name: locName, Address: li.Address, City: li.City, PostalCode: li.PostalCode,
			Country: li.Country, Coordinates: li.Coordinates, EVSEUID: EVSEUID(s.ChargerID, s.ConnectorID),
			EVSEID: c.evseID(s.ChargerID, s.ConnectorID), ConnectorID: connectorOf(s), ConnectorStandard: std,
			ConnectorFormat: format, ConnectorPowerType: power},
		MeterID:     view.MeterID,
		Currency:    view.Currency,
		TotalEnergy: num(s.KWh(), 4),
		TotalTime:   num(hours, 4),
		LastUpdated: DateTime(c.now()),
	}
	if cdr.CdrLocation.EVSEID == "" {
		cdr.CdrLocation.EVSEID = cdr.CdrLocation.EVSEUID
	}
	var price *pricing.Priced
	if c.cfg.Pricer != nil {
		if price, err = c.cfg.Pricer.Price(ctx, s, nil); err != nil {
			c.log.Warn("CDR issued without a price: pricing failed", "session", s.ID, "err", err)
			price = nil
		}
	}
	if price != nil {
		t := price.Totals
		cdr.Currency, cdr.ChargingPeriods = price.Currency, price.ChargingPeriods
		cdr.TotalCost, cdr.TotalFixedCost, cdr.TotalEnergyCost, cdr.TotalTimeCost = t.TotalCost, t.TotalFixedCost, t.TotalEnergyCost, t.TotalTimeCost
		cdr.TotalParkingCost, cdr.TotalReservationCost = t.TotalParkingCost, t.TotalReservationCost
		cdr.TotalEnergy, cdr.TotalTime = t.TotalEnergy, t.TotalTime
		if !t.TotalParkingTime.IsZero() {
			pt := t.TotalParkingTime
			cdr.TotalParkingTime = &pt
		}
		if tb := c.pricedTariff(price.Tariff); tb != nil {
			cdr.Tariffs = []json.RawMessage{tb}
		} else if tb := c.catalogTariff(ctx, price.TariffID); tb != nil {
			// A price stored before prices kept their tariff.
			cdr.Tariffs = []json.RawMessage{tb}
		}
	}
	if cdr.Currency == "" {
		cdr.Currency = "EUR"
	}
	if len(cdr.ChargingPeriods) == 0 {
		// Unpriced: one period with what was measured.
		dims := []tariff.CdrDimension{{Type: "ENERGY", Volume: cdr.TotalEnergy}, {Type: "TIME", Volume: cdr.TotalTime}}
		if s.MaxPowerKW > 0 {
			dims = append(dims, tariff.CdrDimension{Type: "MAX_POWER", Volume: num(s.MaxPowerKW, 3)})
		}
		cdr.ChargingPeriods = []tariff.ChargingPeriod{{StartDateTime: tariff.DateTime{Time: s.StartedAt.UTC().Truncate(time.Second)}, Dimensions: dims}}
	}
	if price == nil {
		zero := tariff.N("0")
		cdr.TotalCost = tariff.Price{ExclVAT: zero, InclVAT: &zero}
		cdr.Remark = "not priced: no tariff applies to this connector"
	}
	if cdr.TotalCost.InclVAT == nil {
		incl := cdr.TotalCost.ExclVAT
		cdr.TotalCost.InclVAT = &incl
	}
	return cdr, nil
}

// issueCDR stores the CDR of an ended session, once, and queues its POST
// to every eMSP. A CDR already issued is left alone (immutable).
func (c *CPO) issueCDR(ctx context.Context, s charging.Session, view Session) error {
	if _, err := c.docs.GetDoc(ctx, docCDR, s.ID); err == nil {
		return nil
	} else if !errors.Is(err, charging.ErrNotFound) {
		return err
	}
	cdr, err := c.cdrOf(ctx, s, view)
	if err != nil {
		return err
	}
	b, err := json.Marshal(cdr)
	if err != nil {
		return err
	}
	// Queue first: a crash between the two leaves no CDR document, so
	// the event's next handling (or the reconciliation at start) issues
	// it again: queued twice, never not at all, and the outbox sends
	// each party its second copy only if the first never reached it
	// (push.Once).
	if err := c.pushEach(ctx, push{Object: "cdr " + cdr.ID, Module: "cdrs", Method: http.MethodPost, Once: cdr.ID}, json.RawMessage(b), nil); err != nil {
		return err
	}
	return c.docs.PutDoc(ctx, charging.Doc{Kind: docCDR, ID: cdr.ID, Owner: s.ChargerID, Body: b, Updated: time.Time(cdr.LastUpdated)})
}

func (c *CPO) getCDRs(w http.ResponseWriter, r *http.Request) error {
	return c.listDocPage(w, r, docCDR)
}

// pricedTariff is the tariff that priced a session, as the CDR embeds it:
// under our party, as we publish our tariffs; nil when the price does not
// carry it.
func (c *CPO) pricedTariff(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	t, err := tariff.ParseTariff(raw)
	if err != nil {
		c.log.Warn("the tariff kept with a price is unreadable; the CDR embeds the catalog's", "err", err)
		return nil
	}
	t.CountryCode, t.PartyID = c.cfg.Party.CountryCode, c.cfg.Party.PartyID
	b, err := json.Marshal(t)
	if err != nil {
		return nil
	}
	return b
}

// catalogTariff is the catalog's tariff id under our party, for a price
// that did not keep its tariff; nil when there is none.
func (c *CPO) catalogTariff(ctx context.Context, id string) json.RawMessage {
	if c.cfg.Catalog == nil || id == "" {
		return nil
	}
	t, err := c.cfg.Catalog.Tariff(ctx, id)
	if err != nil {
		return nil
	}
	b, _ := c.ourTariff(t)
	return b
}
