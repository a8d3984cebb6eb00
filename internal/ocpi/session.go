package ocpi

import (
	"math"
	"strconv"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// DateTime formats an OCPI DateTime: UTC, second precision, with Z.
type DateTime time.Time

// MarshalJSON writes the time as OCPI wants it.
func (d DateTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(d).UTC().Format("2006-01-02T15:04:05Z") + `"`), nil
}

// UnmarshalJSON reads an OCPI DateTime, with or without a zone (UTC).
func (d *DateTime) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return err
	}
	t, err := tariff.ParseDateTime(s)
	if err != nil {
		return err
	}
	*d = DateTime(t)
	return nil
}

// SessionStatus is OCPI 2.2.1 SessionStatus.
type SessionStatus string

// OCPI session statuses.
const (
	SessionActive      SessionStatus = "ACTIVE"
	SessionCompleted   SessionStatus = "COMPLETED"
	SessionInvalid     SessionStatus = "INVALID"
	SessionPending     SessionStatus = "PENDING"
	SessionReservation SessionStatus = "RESERVATION"
)

// SessionStatusOf maps the canonical status (DESIGN.md's table).
func SessionStatusOf(s charging.SessionStatus) SessionStatus {
	switch s {
	case charging.SessionReserved:
		return SessionReservation
	case charging.SessionPending:
		return SessionPending
	case charging.SessionActive, charging.SessionStopping:
		return SessionActive
	case charging.SessionCompleted, charging.SessionInterrupted:
		return SessionCompleted
	}
	return SessionInvalid
}

// EVSEStatus is OCPI 2.2.1 Status of an EVSE.
type EVSEStatus string

// EVSEStatusOf is the OCPI EVSE status of a connector's availability and
// state (DESIGN.md's table), the one place OCPI derives it: out of service
// is INOPERATIVE (OUTOFORDER when faulted), an occupied, charging,
// suspended or finishing connector is CHARGING.
func EVSEStatusOf(c charging.Connector) EVSEStatus {
	switch {
	case c.State == charging.StateFaulted:
		return "OUTOFORDER"
	case c.Availability == charging.Inoperative:
		return "INOPERATIVE"
	}
	switch c.State {
	case charging.StateAvailable:
		return "AVAILABLE"
	case charging.StateOccupied, charging.StateCharging, charging.StateSuspendedEV,
		charging.StateSuspendedEVSE, charging.StateFinishing:
		return "CHARGING"
	case charging.StateReserved:
		return "RESERVED"
	}
	return "UNKNOWN"
}

// CdrToken is OCPI 2.2.1 CdrToken.
type CdrToken struct {
	CountryCode string `json:"country_code"`
	PartyID     string `json:"party_id"`
	UID         string `json:"uid"`
	Type        string `json:"type"`
	ContractID  string `json:"contract_id"`
}

// Session is OCPI 2.2.1 Session. connector_id is required in 2.2.1.
type Session struct {
	CountryCode            string                  `json:"country_code"`
	PartyID                string                  `json:"party_id"`
	ID                     string                  `json:"id"`
	StartDateTime          DateTime                `json:"start_date_time"`
	EndDateTime            *DateTime               `json:"end_date_time,omitempty"`
	KWh                    float64                 `json:"kwh"`
	CdrToken               CdrToken                `json:"cdr_token"`
	AuthMethod             string                  `json:"auth_method"`
	AuthorizationReference string                  `json:"authorization_reference,omitempty"`
	LocationID             string                  `json:"location_id"`
	EVSEUID                string                  `json:"evse_uid"`
	ConnectorID            string                  `json:"connector_id"`
	MeterID                string                  `json:"meter_id,omitempty"`
	Currency               string                  `json:"currency"`
	ChargingPeriods        []tariff.ChargingPeriod `json:"charging_periods,omitempty"`
	TotalCost              *tariff.Price           `json:"total_cost,omitempty"`
	Status                 SessionStatus           `json:"status"`
	LastUpdated            DateTime                `json:"last_updated"`
}

// Party identifies a CPO or eMSP in OCPI.
type Party struct {
	CountryCode string
	PartyID     string
}

// SessionContext is what the Session view needs beyond the canonical
// session: who we are, where the charger is, whose token started it and,
// once priced, its periods and cost.
type SessionContext struct {
	CPO        Party
	LocationID string
	// Token is the session's token; a local id tag when zero (UID the id
	// tag, type RFID, issued by the CPO itself).
	Token      CdrToken
	AuthMethod string
	// AuthorizationReference is the eMSP's reference of a real-time
	// authorization or a START_SESSION command.
	AuthorizationReference string
	MeterID                string
	Currency               string
	Periods                []tariff.ChargingPeriod
	TotalCost              *tariff.Price
}

// EVSEUID is the OCPI EVSE uid of an EVSE (a 1.6 connector n is EVSE n);
// its OCPI connectors are its connectors by their number within it.
func EVSEUID(chargerID string, connectorID int) string {
	return chargerID + "-" + strconv.Itoa(connectorID)
}

// SessionView is the OCPI Session of a canonical session.
func SessionView(s charging.Session, c SessionContext) Session {
	tok := c.Token
	if tok.UID == "" {
		tok = CdrToken{CountryCode: c.CPO.CountryCode, PartyID: c.CPO.PartyID, UID: s.IDTag, Type: "RFID", ContractID: s.IDTag}
	}
	auth := c.AuthMethod
	if auth == "" {
		auth = "WHITELIST"
	}
	cur := c.Currency
	if cur == "" {
		cur = "EUR"
	}
	loc := c.LocationID
	if loc == "" {
		loc = s.ChargerID
	}
	out := Session{
		CountryCode:            c.CPO.CountryCode,
		PartyID:                c.CPO.PartyID,
		ID:                     s.ID,
		StartDateTime:          DateTime(s.StartedAt),
		KWh:                    math.Round(s.KWh()*1000) / 1000,
		CdrToken:               tok,
		AuthMethod:             auth,
		AuthorizationReference: c.AuthorizationReference,
		LocationID:             loc,
		EVSEUID:                EVSEUID(s.ChargerID, s.ConnectorID),
		ConnectorID:            connectorOf(s),
		MeterID:                c.MeterID,
		Currency:               cur,
		ChargingPeriods:        c.Periods,
		TotalCost:              c.TotalCost,
		Status:                 SessionStatusOf(s.Status),
		LastUpdated:            DateTime(s.LastUpdated),
	}
	if s.EndedAt != nil {
		end := DateTime(*s.EndedAt)
		out.EndDateTime = &end
	}
	return out
}
