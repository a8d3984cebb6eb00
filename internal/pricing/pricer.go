package pricing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// Sessions is what the pricer reads of sessions.
type Sessions interface {
	GetSession(ctx context.Context, id string) (charging.Session, error)
	SessionSamples(ctx context.Context, sessionID string) ([]charging.MeterSample, error)
}

// Priced is a session's price: its totals and OCPI charging periods under
// one tariff.
type Priced struct {
	SessionID string `json:"session_id"`
	TariffID  string `json:"tariff_id"`
	Currency  string `json:"currency"`
	// Final says the session had ended: the price no longer changes. A
	// running session's price is the estimate had it stopped at Until.
	Final           bool                    `json:"final"`
	Until           time.Time               `json:"until"`
	Totals          tariff.Totals           `json:"totals"`
	ChargingPeriods []tariff.ChargingPeriod `json:"charging_periods"`
	// SessionUpdated is the session's last_updated when it was priced.
	SessionUpdated time.Time `json:"session_last_updated"`
	PricedAt       time.Time `json:"priced_at"`
	// Tariff is the tariff as it priced the session, for a CDR to embed:
	// the catalog's may have changed since.
	Tariff json.RawMessage `json:"tariff,omitempty"`
}

// TotalCost is the session's total cost, incl_vat always set.
func (p *Priced) TotalCost() tariff.Price {
	c := p.Totals.TotalCost
	if c.InclVAT == nil {
		incl := c.ExclVAT
		c.InclVAT = &incl
	}
	return c
}

// storedPrice is the session_price document of a finished session.
type storedPrice struct {
	SessionUpdated time.Time `json:"session_last_updated"`
	Priced         *Priced   `json:"priced,omitempty"`
	// NotPriced says why a finished session has no price.
	NotPriced string `json:"not_priced,omitempty"`
}

// Pricer prices sessions: running ones on demand, finished ones once.
type Pricer struct {
	cat      *Catalog
	docs     charging.DocStore
	sessions Sessions
	clock    charging.Clock
	log      *slog.Logger
}

// NewPricer returns a pricer that takes tariffs and zones from cat and
// stores final prices in docs.
func NewPricer(cat *Catalog, docs charging.DocStore, sessions Sessions, clock charging.Clock, log *slog.Logger) *Pricer {
	return &Pricer{cat: cat, docs: docs, sessions: sessions, clock: clock, log: log}
}

// Priceable says whether a session has a price: it started a transaction
// and was not refused (active, stopping, completed, interrupted).
func Priceable(s charging.Session) bool {
	if s.StartedAt.IsZero() {
		return false
	}
	switch s.Status {
	case charging.SessionActive, charging.SessionStopping, charging.SessionCompleted, charging.SessionInterrupted:
		return true
	}
	return false
}

// Price returns a session's price, or nil when it has none (not priceable,
// no tariff assigned, or the tariff cannot price it: see the log at debug
// level). samples may be nil: they are read when needed. A finished
// session's price is computed once and then read back.
func (p *Pricer) Price(ctx context.Context, s charging.Session, samples []charging.MeterSample) (*Priced, error) {
	if !Priceable(s) {
		return nil, nil
	}
	final := s.Status.Final()
	if final {
		d, err := p.docs.GetDoc(ctx, DocSessionPrice, s.ID)
		switch {
		case err == nil:
			var sp storedPrice
			if err := json.Unmarshal(d.Body, &sp); err == nil && sp.SessionUpdated.Equal(s.LastUpdated) {
				return sp.Priced, nil
			}
		case !errors.Is(err, charging.ErrNotFound):
			return nil, fmt.Errorf("price of session %s: %w", s.ID, err)
		}
	}
	pr, why, err := p.compute(ctx, s, samples)
	if err != nil {
		return nil, err
	}
	if !final {
		if pr == nil {
			p.log.Debug("session not priced", "session", s.ID, "charger", s.ChargerID, "why", why)
		}
		return pr, nil
	}
	if pr == nil && why != noTariff {
		p.log.Warn("finished session not priced", "session", s.ID, "charger", s.ChargerID, "why", why)
	}
	body, err := json.Marshal(storedPrice{SessionUpdated: s.LastUpdated, Priced: pr, NotPriced: why})
	if err != nil {
		return nil, err
	}
	if err := p.docs.PutDoc(ctx, charging.Doc{Kind: DocSessionPrice, ID: s.ID, Owner: s.ChargerID, Body: body, Updated: p.clock.Now().UTC()}); err != nil {
		return nil, fmt.Errorf("store price of session %s: %w", s.ID, err)
	}
	return pr, nil
}

const noTariff = "no tariff assigned to the connector, the charger or as default"

// compute prices a session now; a nil price comes with the reason.
func (p *Pricer) compute(ctx context.Context, s charging.Session, samples []charging.MeterSample) (*Priced, string, error) {
	t, _, err := p.cat.TariffFor(ctx, s.ChargerID, s.ConnectorID)
	if err != nil {
		return nil, "", fmt.Errorf("price session %s: %w", s.ID, err)
	}
	if t == nil {
		return nil, noTariff, nil
	}
	return p.priceWith(ctx, t, s, samples)
}

// Preview prices a session with tariff t instead of its assigned one (an
// operator's what-if); nothing is stored. A session the tariff cannot
// price is an error matching charging.ErrInvalidInput.
func (p *Pricer) Preview(ctx context.Context, t *tariff.Tariff, s charging.Session) (*Priced, error) {
	pr, why, err := p.priceWith(ctx, t, s, nil)
	if err != nil {
		return nil, err
	}
	if pr == nil {
		return nil, fmt.Errorf("%w: %s", charging.ErrInvalidInput, why)
	}
	return pr, nil
}

// priceWith prices a session with tariff t now; a nil price comes with
// the reason.
func (p *Pricer) priceWith(ctx context.Context, t *tariff.Tariff, s charging.Session, samples []charging.MeterSample) (*Priced, string, error) {
	zone, err := p.cat.Zone(ctx, s.ChargerID)
	if err != nil {
		return nil, "", fmt.Errorf("price session %s: %w", s.ID, err)
	}
	if samples == nil {
		if samples, err = p.sessions.SessionSamples(ctx, s.ID); err != nil {
			return nil, "", fmt.Errorf("price session %s: %w", s.ID, err)
		}
	}
	in, last := SessionInput(s, samples)
	until := in.End
	if until.IsZero() {
		// A charger whose clock runs ahead reported energy "after" now;
		// count it rather than cut the estimate short.
		until = p.clock.Now()
		if until.Before(last) {
			until = last
		}
	}
	res, err := tariff.PriceSession(t, zone, in, until)
	if errors.Is(err, tariff.ErrInvalidSession) || errors.Is(err, tariff.ErrTariffNotActive) || errors.Is(err, tariff.ErrInvalidTariff) {
		return nil, fmt.Sprintf("tariff %s: %v", t.ID, err), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("price session %s with tariff %s: %w", s.ID, t.ID, err)
	}
	tb, err := json.Marshal(t)
	if err != nil {
		return nil, "", fmt.Errorf("price session %s with tariff %s: %w", s.ID, t.ID, err)
	}
	return &Priced{
		SessionID: s.ID, TariffID: t.ID, Currency: res.Currency, Final: s.Status.Final(), Until: until.UTC(),
		Totals: res.Totals, ChargingPeriods: res.ChargingPeriods,
		SessionUpdated: s.LastUpdated, PricedAt: p.clock.Now().UTC(), Tariff: tb,
	}, "", nil
}

// ConsumerName is the pricer's durable consumer of the event log.
const ConsumerName = "pricer"

// Run prices each session that ends, reading the core's event log as the
// durable consumer ConsumerName until ctx ends: a session that ended while
// the process was down, or whose pricing failed (retried with backoff), is
// priced when the pricer gets to its event. It returns nil when ctx ends.
//
// Finalization runs once per cluster because the consumer is durable:
// the event port hands each event to one node (the NATS consumer, or on
// PostgreSQL the process leading the consumer). It is also safe twice:
// a finished session's price is a function of the session as of its
// LastUpdated and its tariff, so a second pricing stores the same price
// (Price reads a stored one back while SessionUpdated matches).
func (p *Pricer) Run(ctx context.Context, events charging.EventPort) error {
	err := events.Consume(ctx, ConsumerName, p.handle)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// handle prices the session an event is about once it has ended. Pricing
// is idempotent: a final price, once stored, is kept.
func (p *Pricer) handle(ctx context.Context, e charging.Event) error {
	if e.Kind != charging.SessionChanged || e.SessionID == "" {
		return nil
	}
	s, err := p.sessions.GetSession(ctx, e.SessionID)
	if errors.Is(err, charging.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !s.Status.Final() || !Priceable(s) {
		return nil
	}
	if _, err := p.Price(ctx, s, nil); err != nil {
		return fmt.Errorf("price finished session %s: %w", s.ID, err)
	}
	return nil
}

// SessionCost is a session's total cost (nil when not priced), for views
// that show only that (the Beckn EvChargingSession's totalCost).
func (p *Pricer) SessionCost(ctx context.Context, s charging.Session, samples []charging.MeterSample) (*tariff.Price, error) {
	pr, err := p.Price(ctx, s, samples)
	if err != nil || pr == nil {
		return nil, err
	}
	c := pr.TotalCost()
	return &c, nil
}
