package ocpi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// Sessions as eMSPs see them are kept as documents (kind ocpi_session, id
// the session id, Updated the view's last_updated, Owner "open" or
// "final"): each is the OCPI Session last pushed. The Sessions Sender
// interface serves them, so a pull shows exactly what the pushes said,
// and the core's meter path writes nothing for OCPI: a running session's
// view is refreshed when its status changes and at most once per
// SessionPatchInterval for meter values.
const docSession = "ocpi_session"

// Owners of session documents.
const (
	sessionOpen  = "open"
	sessionFinal = "final"
)

// Pricer prices a session (pricing.Pricer): nil when it has no price (no
// tariff). samples may be nil (the pricer reads them).
type Pricer interface {
	Price(ctx context.Context, s charging.Session, samples []charging.MeterSample) (*pricing.Priced, error)
}

// Catalog is what the OCPI role reads of the operator's tariffs and
// sites (pricing.Catalog).
type Catalog interface {
	// Tariff and TariffPage are the Tariffs module's source: the
	// catalog as it is, with no copy of our own.
	Tariff(ctx context.Context, id string) (*tariff.Tariff, error)
	TariffPage(ctx context.Context, q pricing.TariffQuery) ([]*tariff.Tariff, int, error)
	TariffFor(ctx context.Context, chargerID string, connectorID int) (*tariff.Tariff, pricing.Assignment, error)
	Location(ctx context.Context, chargerID string) (pricing.Location, error)
	// TariffsOf and LocationsOf are TariffFor and Location of a page of
	// chargers at once (the periodic sync's reads: a few statements per
	// page, not several per charger).
	TariffsOf(ctx context.Context, chargers []charging.Charger) (map[string]map[int]*tariff.Tariff, error)
	LocationsOf(ctx context.Context, chargerIDs []string) (map[string]pricing.Location, error)
}

// storedSession reads a session's document; ok false when there is none.
func (c *CPO) storedSession(ctx context.Context, id string) (Session, bool, error) {
	d, err := c.docs.GetDoc(ctx, docSession, id)
	if errors.Is(err, charging.ErrNotFound) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, err
	}
	var s Session
	if err := json.Unmarshal(d.Body, &s); err != nil {
		return Session{}, false, err
	}
	return s, true, nil
}

func (c *CPO) storeSession(ctx context.Context, s Session, final bool) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	owner := sessionOpen
	if final {
		owner = sessionFinal
	}
	return c.docs.PutDoc(ctx, charging.Doc{Kind: docSession, ID: s.ID, Owner: owner, Body: b, Updated: time.Time(s.LastUpdated)})
}

// sessionView is the OCPI Session of s. prev, when set, is the view last
// pushed: the token and authorization found when the session began stay.
func (c *CPO) sessionView(ctx context.Context, s charging.Session, prev *Session) (Session, error) {
	locID, err := c.locationIDOf(ctx, s.ChargerID)
	if err != nil {
		return Session{}, err
	}
	sc := SessionContext{CPO: c.cfg.Party, LocationID: locID}
	if prev != nil {
		sc.Token, sc.AuthMethod, sc.AuthorizationReference = prev.CdrToken, prev.AuthMethod, prev.AuthorizationReference
	} else if err := c.authContext(ctx, s, &sc); err != nil {
		return Session{}, err
	}
	if c.cfg.Pricer != nil && s.TransactionID != "" {
		p, err := c.cfg.Pricer.Price(ctx, s, nil)
		if err != nil {
			c.log.Warn("session not priced for OCPI", "session", s.ID, "err", err)
		} else if p != nil {
			sc.Currency, sc.Periods = p.Currency, p.ChargingPeriods
			tc := p.TotalCost()
			sc.TotalCost = &tc
		}
	}
	return SessionView(s, sc), nil
}

// authContext finds whose token a session runs on and how it was
// authorized: an eMSP token (WHITELIST, or AUTH_REQUEST with the eMSP's
// reference), a START_SESSION command (COMMAND), or a local id tag.
func (c *CPO) authContext(ctx context.Context, s charging.Session, sc *SessionContext) error {
	tok, found, err := c.tokenByUID(ctx, s.IDTag)
	if err != nil {
		return err
	}
	if found {
		sc.Token = tok.cdrToken()
		sc.AuthMethod = "WHITELIST"
	}
	if ref, ok, err := c.authorization(ctx, s.ChargerID, s.IDTag); err != nil {
		return err
	} else if ok {
		sc.AuthMethod, sc.AuthorizationReference = ref.Method, ref.Reference
		if !found && ref.Token.UID != "" {
			sc.Token = ref.Token
		}
	}
	return nil
}

func (c *CPO) getSessions(w http.ResponseWriter, r *http.Request) error {
	return c.listDocPage(w, r, docSession)
}

// sessionPatch is the PATCH of a session from prev to cur: the fields
// that changed, charging periods that are new (a PATCH appends them), and
// always last_updated.
func sessionPatch(prev, cur Session) map[string]any {
	m := map[string]any{"last_updated": cur.LastUpdated}
	if prev.Status != cur.Status {
		m["status"] = cur.Status
	}
	if prev.LocationID != cur.LocationID {
		// Its charger joined or left a site: the EVSE is in another
		// Location now.
		m["location_id"] = cur.LocationID
	}
	if prev.KWh != cur.KWh {
		m["kwh"] = cur.KWh
	}
	if cur.EndDateTime != nil && (prev.EndDateTime == nil || !time.Time(*prev.EndDateTime).Equal(time.Time(*cur.EndDateTime))) {
		m["end_date_time"] = cur.EndDateTime
	}
	if cur.TotalCost != nil {
		pb, _ := json.Marshal(prev.TotalCost)
		cb, _ := json.Marshal(cur.TotalCost)
		if string(pb) != string(cb) {
			m["total_cost"] = cur.TotalCost
		}
	}
	if len(cur.ChargingPeriods) > 0 {
		// Periods are appended at the receiver: send those that start
		// after the last one sent, and the last one again only if it
		// changed (a running period grows).
		var last time.Time
		if n := len(prev.ChargingPeriods); n > 0 {
			last = prev.ChargingPeriods[n-1].StartDateTime.Time
		}
		var add []tariff.ChargingPeriod
		for _, p := range cur.ChargingPeriods {
			if p.StartDateTime.Time.After(last) || last.IsZero() {
				add = append(add, p)
			}
		}
		if len(add) > 0 {
			m["charging_periods"] = add
		}
	}
	return m
}
