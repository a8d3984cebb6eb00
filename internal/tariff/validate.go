package tariff

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// ErrInvalidTariff is matched (errors.Is) by every error Validate returns.
var ErrInvalidTariff = errors.New("invalid tariff")

// FieldError is one problem Validate found, with the JSON path of the field.
type FieldError struct {
	Field   string // e.g. "elements[1].price_components[0].type"
	Problem string
}

func (e FieldError) String() string { return e.Field + ": " + e.Problem }

// ValidationError lists every problem Validate found in a tariff.
type ValidationError struct {
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid tariff: " + strings.Join(parts, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalidTariff) hold.
func (e *ValidationError) Unwrap() error { return ErrInvalidTariff }

var (
	timeOfDayRE = regexp.MustCompile(`^([0-1][0-9]|2[0-3]):[0-5][0-9]$`)
	dateRE      = regexp.MustCompile(`^([12][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`)
	currencyRE  = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Validate checks the tariff against the spec: required fields and their
// lengths, enum values, non-negative prices and VAT, step sizes, restriction
// syntax and ranges, and min_price ≤ max_price. It returns a
// *ValidationError listing every problem, or nil.
func (t *Tariff) Validate() error { return t.validate(true) }

// validate with full=false checks only what pricing depends on, so that a
// tariff missing e.g. last_updated (like the spec's own PUT example) can
// still be priced.
func (t *Tariff) validate(full bool) error {
	v := &validator{}
	if full {
		v.length("country_code", t.CountryCode, 2, 2)
		v.length("party_id", t.PartyID, 3, 3)
		v.length("id", t.ID, 1, 36)
		if t.LastUpdated.IsZero() {
			v.add("last_updated", "is required")
		}
		for i, d := range t.TariffAltText {
			v.length(fmt.Sprintf("tariff_alt_text[%d].language", i), d.Language, 2, 2)
			v.length(fmt.Sprintf("tariff_alt_text[%d].text", i), d.Text, 0, 512)
		}
		if t.TariffAltURL != "" {
			if u, err := url.Parse(t.TariffAltURL); err != nil || u.Scheme == "" || u.Host == "" {
				v.add("tariff_alt_url", fmt.Sprintf("%q is not an absolute URL", t.TariffAltURL))
			}
		}
		if t.EnergyMix != nil {
			for i, s := range t.EnergyMix.EnergySources {
				if !s.Source.Valid() {
					v.add(fmt.Sprintf("energy_mix.energy_sources[%d].source", i), fmt.Sprintf("unknown EnergySourceCategory %q", s.Source))
				}
				v.between(fmt.Sprintf("energy_mix.energy_sources[%d].percentage", i), s.Percentage.Decimal, 0, 100)
			}
			for i, e := range t.EnergyMix.EnvironImpact {
				if !e.Category.Valid() {
					v.add(fmt.Sprintf("energy_mix.environ_impact[%d].category", i), fmt.Sprintf("unknown EnvironmentalImpactCategory %q", e.Category))
				}
				v.nonNegative(fmt.Sprintf("energy_mix.environ_impact[%d].amount", i), e.Amount.Decimal)
			}
		}
	}
	if !currencyRE.MatchString(t.Currency) {
		v.add("currency", fmt.Sprintf("%q is not an ISO 4217 code (three capital letters)", t.Currency))
	}
	if t.Type != "" && !t.Type.Valid() {
		v.add("type", fmt.Sprintf("unknown TariffType %q", t.Type))
	}
	v.price("min_price", t.MinPrice)
	v.price("max_price", t.MaxPrice)
	if t.MinPrice != nil && t.MaxPrice != nil {
		if t.MinPrice.ExclVAT.GreaterThan(t.MaxPrice.ExclVAT.Decimal) {
			v.add("min_price.excl_vat", "is greater than max_price.excl_vat")
		}
		if t.MinPrice.InclVAT != nil && t.MaxPrice.InclVAT != nil && t.MinPrice.InclVAT.GreaterThan(t.MaxPrice.InclVAT.Decimal) {
			v.add("min_price.incl_vat", "is greater than max_price.incl_vat")
		}
	}
	if t.StartDateTime != nil && t.EndDateTime != nil && !t.StartDateTime.Before(t.EndDateTime.Time) {
		v.add("end_date_time", "is not after start_date_time")
	}
	if len(t.Elements) == 0 {
		v.add("elements", "needs at least one element")
	}
	for i, e := range t.Elements {
		v.element(fmt.Sprintf("elements[%d]", i), e)
	}
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

type validator struct{ problems []FieldError }

func (v *validator) add(field, problem string) {
	v.problems = append(v.problems, FieldError{Field: field, Problem: problem})
}

func (v *validator) length(field, s string, lo, hi int) {
	n := len([]rune(s))
	switch {
	case n == 0 && lo > 0:
		v.add(field, "is required")
	case n < lo || n > hi:
		if lo == hi {
			v.add(field, fmt.Sprintf("%q must be %d characters", s, lo))
		} else {
			v.add(field, fmt.Sprintf("is %d characters, longer than %d", n, hi))
		}
	}
}

func (v *validator) nonNegative(field string, d decimal.Decimal) {
	if d.IsNegative() {
		v.add(field, fmt.Sprintf("%s is negative", d))
	}
}

func (v *validator) between(field string, d decimal.Decimal, lo, hi int64) {
	if d.LessThan(decimal.NewFromInt(lo)) || d.GreaterThan(decimal.NewFromInt(hi)) {
		v.add(field, fmt.Sprintf("%s is outside %d…%d", d, lo, hi))
	}
}

func (v *validator) price(field string, p *Price) {
	if p == nil {
		return
	}
	v.nonNegative(field+".excl_vat", p.ExclVAT.Decimal)
	if p.InclVAT != nil {
		v.nonNegative(field+".incl_vat", p.InclVAT.Decimal)
		if p.InclVAT.LessThan(p.ExclVAT.Decimal) {
			v.add(field+".incl_vat", "is less than excl_vat")
		}
	}
}

func (v *validator) element(field string, e TariffElement) {
	if len(e.PriceComponents) == 0 {
		v.add(field+".price_components", "needs at least one price component")
	}
	seen := map[TariffDimensionType]bool{}
	for i, pc := range e.PriceComponents {
		f := fmt.Sprintf("%s.price_components[%d]", field, i)
		if !pc.Type.Valid() {
			v.add(f+".type", fmt.Sprintf("unknown TariffDimensionType %q", pc.Type))
		} else if seen[pc.Type] {
			// The spec lets one component per dimension be active; two in
			// one element would make "the" component ambiguous.
			v.add(f+".type", fmt.Sprintf("second %s component in the same element", pc.Type))
		}
		seen[pc.Type] = true
		v.nonNegative(f+".price", pc.Price.Decimal)
		if pc.VAT != nil {
			v.between(f+".vat", pc.VAT.Decimal, 0, 100)
		}
		if pc.StepSize < 0 {
			v.add(f+".step_size", fmt.Sprintf("%d is negative", pc.StepSize))
		}
		if e.Restrictions != nil && e.Restrictions.Reservation != "" && pc.Type != DimFlat && pc.Type != DimTime {
			v.add(f+".type", fmt.Sprintf("a reservation element can only have FLAT and TIME components, not %s", pc.Type))
		}
	}
	if r := e.Restrictions; r != nil {
		v.restrictions(field+".restrictions", r)
	}
}

func (v *validator) restrictions(field string, r *TariffRestrictions) {
	for _, tf := range []struct{ name, val string }{{"start_time", r.StartTime}, {"end_time", r.EndTime}} {
		if tf.val != "" && !timeOfDayRE.MatchString(tf.val) {
			v.add(field+"."+tf.name, fmt.Sprintf("%q is not a time of day HH:MM", tf.val))
		}
	}
	for _, df := range []struct{ name, val string }{{"start_date", r.StartDate}, {"end_date", r.EndDate}} {
		if df.val == "" {
			continue
		}
		if _, err := time.Parse("2006-01-02", df.val); err != nil || !dateRE.MatchString(df.val) {
			v.add(field+"."+df.name, fmt.Sprintf("%q is not a date YYYY-MM-DD", df.val))
		}
	}
	if r.StartDate != "" && r.EndDate != "" && r.EndDate <= r.StartDate {
		v.add(field+".end_date", "is not after start_date (end_date is exclusive)")
	}
	for _, rng := range []struct {
		name     string
		min, max *Number
	}{{"kwh", r.MinKWh, r.MaxKWh}, {"current", r.MinCurrent, r.MaxCurrent}, {"power", r.MinPower, r.MaxPower}} {
		if rng.min != nil {
			v.nonNegative(field+".min_"+rng.name, rng.min.Decimal)
		}
		if rng.max != nil {
			v.nonNegative(field+".max_"+rng.name, rng.max.Decimal)
		}
		if rng.min != nil && rng.max != nil && !rng.min.LessThan(rng.max.Decimal) {
			v.add(field+".max_"+rng.name, "is not greater than min_"+rng.name+", so the element can never be active")
		}
	}
	if r.MinDuration != nil && *r.MinDuration < 0 {
		v.add(field+".min_duration", fmt.Sprintf("%d is negative", *r.MinDuration))
	}
	if r.MaxDuration != nil && *r.MaxDuration < 0 {
		v.add(field+".max_duration", fmt.Sprintf("%d is negative", *r.MaxDuration))
	}
	if r.MinDuration != nil && r.MaxDuration != nil && *r.MinDuration >= *r.MaxDuration {
		v.add(field+".max_duration", "is not greater than min_duration, so the element can never be active")
	}
	for i, d := range r.DayOfWeek {
		if !d.Valid() {
			v.add(fmt.Sprintf("%s.day_of_week[%d]", field, i), fmt.Sprintf("unknown DayOfWeek %q", d))
		}
	}
	if r.Reservation != "" && !r.Reservation.Valid() {
		v.add(field+".reservation", fmt.Sprintf("unknown ReservationRestrictionType %q", r.Reservation))
	}
}
