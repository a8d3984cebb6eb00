package beckn

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// Pricer prices charging at a connector: the per-kWh rate shown in offers
// and quotes, and the cost of a session. FlatPricer is the configured flat
// price; a tariff-backed Pricer (tariffs assigned to connectors, priced by
// internal/tariff) plugs in here without changing the BPP.
type Pricer interface {
	// Rate returns the energy price at a connector.
	Rate(ctx context.Context, chargerID string, connectorID int) (Rate, error)
	// SessionCost returns what a session costs so far, or nil when it is
	// not priced.
	SessionCost(ctx context.Context, s charging.Session, samples []charging.MeterSample) (*tariff.Price, error)
}

// Rate is a price per kWh, excluding VAT, with the VAT rate to add.
type Rate struct {
	Currency   string
	PerKWh     decimal.Decimal
	VATPercent decimal.Decimal
}

// PerKWhInclVAT is the price per kWh a driver pays.
func (r Rate) PerKWhInclVAT() decimal.Decimal {
	return r.PerKWh.Mul(decimal.NewFromInt(100).Add(r.VATPercent)).Div(decimal.NewFromInt(100))
}

// Cost prices kwh of energy. Amounts are rounded once, here, to the cent
// (half away from zero): the excl-VAT total from the exact product, and the
// incl-VAT total from the exact excl-VAT one.
func (r Rate) Cost(kwh decimal.Decimal) tariff.Price {
	excl := r.PerKWh.Mul(kwh)
	incl := excl.Mul(decimal.NewFromInt(100).Add(r.VATPercent)).Div(decimal.NewFromInt(100))
	in := tariff.Number{Decimal: incl.Round(2)}
	return tariff.Price{ExclVAT: tariff.Number{Decimal: excl.Round(2)}, InclVAT: &in}
}

// FlatPricer charges the same rate at every connector.
type FlatPricer struct {
	rate Rate
}

var _ Pricer = FlatPricer{}

// NewFlatPricer checks a flat rate: a three-letter currency, a
// non-negative price and a VAT rate from 0 to 100 %.
func NewFlatPricer(currency string, perKWh, vatPercent decimal.Decimal) (FlatPricer, error) {
	if len(currency) != 3 {
		return FlatPricer{}, fmt.Errorf("currency %q is not an ISO 4217 code such as EUR", currency)
	}
	if perKWh.IsNegative() {
		return FlatPricer{}, fmt.Errorf("price per kWh %s is negative", perKWh)
	}
	if vatPercent.IsNegative() || vatPercent.GreaterThan(decimal.NewFromInt(100)) {
		return FlatPricer{}, fmt.Errorf("VAT %s%% is not between 0 and 100", vatPercent)
	}
	return FlatPricer{rate: Rate{Currency: currency, PerKWh: perKWh, VATPercent: vatPercent}}, nil
}

// Rate returns the flat rate.
func (p FlatPricer) Rate(context.Context, string, int) (Rate, error) { return p.rate, nil }

// SessionCost prices the session's energy at the flat rate.
func (p FlatPricer) SessionCost(_ context.Context, s charging.Session, _ []charging.MeterSample) (*tariff.Price, error) {
	c := p.rate.Cost(decimal.NewFromFloat(s.KWh()).Round(3))
	return &c, nil
}
