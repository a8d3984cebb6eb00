package tariff

import (
	"encoding/json"
	"fmt"
)

// Tariff is the OCPI 2.2.1 Tariff object (mod_tariffs, "Tariff Object").
type Tariff struct {
	CountryCode   string          `json:"country_code"`
	PartyID       string          `json:"party_id"`
	ID            string          `json:"id"`
	Currency      string          `json:"currency"`
	Type          TariffType      `json:"type,omitempty"`
	TariffAltText []DisplayText   `json:"tariff_alt_text,omitempty"`
	TariffAltURL  string          `json:"tariff_alt_url,omitempty"`
	MinPrice      *Price          `json:"min_price,omitempty"`
	MaxPrice      *Price          `json:"max_price,omitempty"`
	Elements      []TariffElement `json:"elements"`
	StartDateTime *DateTime       `json:"start_date_time,omitempty"`
	EndDateTime   *DateTime       `json:"end_date_time,omitempty"`
	EnergyMix     *EnergyMix      `json:"energy_mix,omitempty"`
	// LastUpdated is required by the spec; it is left out of the JSON only
	// when zero, so that a document without it round-trips (Validate
	// reports it missing).
	LastUpdated DateTime `json:"last_updated,omitzero"`
}

// ParseTariff decodes one Tariff object. It does not validate it: call
// Validate for that. (PriceSession and PriceCDR check what pricing needs.)
func ParseTariff(data []byte) (*Tariff, error) {
	var t Tariff
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("decode tariff: %w", err)
	}
	return &t, nil
}

// TariffElement is a group of price components that share restrictions.
type TariffElement struct {
	PriceComponents []PriceComponent    `json:"price_components"`
	Restrictions    *TariffRestrictions `json:"restrictions,omitempty"`
}

// PriceComponent prices one dimension. Price is per unit (kWh, hour, or per
// session for FLAT) excluding VAT; VAT is a percentage and nil means no VAT
// applies (which differs from 0%).
type PriceComponent struct {
	Type     TariffDimensionType `json:"type"`
	Price    Number              `json:"price"`
	VAT      *Number             `json:"vat,omitempty"`
	StepSize int                 `json:"step_size"`
}

// TariffRestrictions says when a tariff element is active. All set fields
// must hold (logical AND). Times and dates are local to the location.
type TariffRestrictions struct {
	StartTime   string                     `json:"start_time,omitempty"`
	EndTime     string                     `json:"end_time,omitempty"`
	StartDate   string                     `json:"start_date,omitempty"`
	EndDate     string                     `json:"end_date,omitempty"`
	MinKWh      *Number                    `json:"min_kwh,omitempty"`
	MaxKWh      *Number                    `json:"max_kwh,omitempty"`
	MinCurrent  *Number                    `json:"min_current,omitempty"`
	MaxCurrent  *Number                    `json:"max_current,omitempty"`
	MinPower    *Number                    `json:"min_power,omitempty"`
	MaxPower    *Number                    `json:"max_power,omitempty"`
	MinDuration *int                       `json:"min_duration,omitempty"`
	MaxDuration *int                       `json:"max_duration,omitempty"`
	DayOfWeek   []DayOfWeek                `json:"day_of_week,omitempty"`
	Reservation ReservationRestrictionType `json:"reservation,omitempty"`
}

// Price is an amount of money excluding and (optionally) including VAT.
type Price struct {
	ExclVAT Number  `json:"excl_vat"`
	InclVAT *Number `json:"incl_vat,omitempty"`
}

// DisplayText is a text in one language (ISO 639-1).
type DisplayText struct {
	Language string `json:"language"`
	Text     string `json:"text"`
}

// EnergyMix describes the energy supplied with a tariff (mod_locations).
type EnergyMix struct {
	IsGreenEnergy     bool                  `json:"is_green_energy"`
	EnergySources     []EnergySource        `json:"energy_sources,omitempty"`
	EnvironImpact     []EnvironmentalImpact `json:"environ_impact,omitempty"`
	SupplierName      string                `json:"supplier_name,omitempty"`
	EnergyProductName string                `json:"energy_product_name,omitempty"`
}

// EnergySource is the share (0–100 %) of one category of energy source.
type EnergySource struct {
	Source     EnergySourceCategory `json:"source"`
	Percentage Number               `json:"percentage"`
}

// EnvironmentalImpact is an amount of waste per kWh, in g/kWh.
type EnvironmentalImpact struct {
	Category EnvironmentalImpactCategory `json:"category"`
	Amount   Number                      `json:"amount"`
}

// CdrDimension is one measured value of a charging period (mod_cdrs).
type CdrDimension struct {
	Type   CdrDimensionType `json:"type"`
	Volume Number           `json:"volume"`
}

// ChargingPeriod is a part of a session during which the prices did not
// change. It ends where the next one starts; the last ends with the session.
type ChargingPeriod struct {
	StartDateTime DateTime       `json:"start_date_time"`
	Dimensions    []CdrDimension `json:"dimensions"`
	TariffID      string         `json:"tariff_id,omitempty"`
}

// TariffType says which sessions a tariff is for.
type TariffType string

// The TariffType values.
const (
	AdHocPayment TariffType = "AD_HOC_PAYMENT"
	ProfileCheap TariffType = "PROFILE_CHEAP"
	ProfileFast  TariffType = "PROFILE_FAST"
	ProfileGreen TariffType = "PROFILE_GREEN"
	Regular      TariffType = "REGULAR"
)

// Valid reports whether t is one of the spec's values.
func (t TariffType) Valid() bool {
	switch t {
	case AdHocPayment, ProfileCheap, ProfileFast, ProfileGreen, Regular:
		return true
	}
	return false
}

// TariffDimensionType is what a price component prices.
type TariffDimensionType string

// The TariffDimensionType values. The step_size unit is 1 Wh for ENERGY and
// 1 second for TIME and PARKING_TIME; FLAT has none.
const (
	DimEnergy      TariffDimensionType = "ENERGY"
	DimFlat        TariffDimensionType = "FLAT"
	DimParkingTime TariffDimensionType = "PARKING_TIME"
	DimTime        TariffDimensionType = "TIME"
)

// Valid reports whether t is one of the spec's values.
func (t TariffDimensionType) Valid() bool {
	switch t {
	case DimEnergy, DimFlat, DimParkingTime, DimTime:
		return true
	}
	return false
}

// DayOfWeek is a day of the week in the location's time zone.
type DayOfWeek string

// The DayOfWeek values.
const (
	Monday    DayOfWeek = "MONDAY"
	Tuesday   DayOfWeek = "TUESDAY"
	Wednesday DayOfWeek = "WEDNESDAY"
	Thursday  DayOfWeek = "THURSDAY"
	Friday    DayOfWeek = "FRIDAY"
	Saturday  DayOfWeek = "SATURDAY"
	Sunday    DayOfWeek = "SUNDAY"
)

// weekday maps d to time.Weekday; ok is false for an unknown value.
func (d DayOfWeek) weekday() (day int, ok bool) {
	switch d {
	case Sunday:
		return 0, true
	case Monday:
		return 1, true
	case Tuesday:
		return 2, true
	case Wednesday:
		return 3, true
	case Thursday:
		return 4, true
	case Friday:
		return 5, true
	case Saturday:
		return 6, true
	}
	return 0, false
}

// Valid reports whether d is one of the spec's values.
func (d DayOfWeek) Valid() bool { _, ok := d.weekday(); return ok }

// ReservationRestrictionType marks a tariff element as pricing a reservation.
type ReservationRestrictionType string

// The ReservationRestrictionType values.
const (
	// Reservation prices a reservation.
	Reservation ReservationRestrictionType = "RESERVATION"
	// ReservationExpires prices a reservation that expired without a
	// charging session.
	ReservationExpires ReservationRestrictionType = "RESERVATION_EXPIRES"
)

// Valid reports whether r is one of the spec's values.
func (r ReservationRestrictionType) Valid() bool {
	return r == Reservation || r == ReservationExpires
}

// CdrDimensionType is the kind of a CdrDimension.
type CdrDimensionType string

// The CdrDimensionType values. Those marked "session only" belong in
// Sessions, not CDRs.
const (
	CdrCurrent         CdrDimensionType = "CURRENT"       // A, average; session only
	CdrEnergy          CdrDimensionType = "ENERGY"        // kWh
	CdrEnergyExport    CdrDimensionType = "ENERGY_EXPORT" // kWh; session only
	CdrEnergyImport    CdrDimensionType = "ENERGY_IMPORT" // kWh; session only
	CdrMaxCurrent      CdrDimensionType = "MAX_CURRENT"   // A
	CdrMinCurrent      CdrDimensionType = "MIN_CURRENT"   // A
	CdrMaxPower        CdrDimensionType = "MAX_POWER"     // kW
	CdrMinPower        CdrDimensionType = "MIN_POWER"     // kW
	CdrParkingTime     CdrDimensionType = "PARKING_TIME"  // h
	CdrPower           CdrDimensionType = "POWER"         // kW, average; session only
	CdrReservationTime CdrDimensionType = "RESERVATION_TIME"
	CdrStateOfCharge   CdrDimensionType = "STATE_OF_CHARGE" // %; session only
	CdrTime            CdrDimensionType = "TIME"            // h, charging
)

// Valid reports whether t is one of the spec's values.
func (t CdrDimensionType) Valid() bool {
	switch t {
	case CdrCurrent, CdrEnergy, CdrEnergyExport, CdrEnergyImport, CdrMaxCurrent, CdrMinCurrent,
		CdrMaxPower, CdrMinPower, CdrParkingTime, CdrPower, CdrReservationTime, CdrStateOfCharge, CdrTime:
		return true
	}
	return false
}

// EnergySourceCategory is a category of energy source.
type EnergySourceCategory string

// Valid reports whether c is one of the spec's values.
func (c EnergySourceCategory) Valid() bool {
	switch c {
	case "NUCLEAR", "GENERAL_FOSSIL", "COAL", "GAS", "GENERAL_GREEN", "SOLAR", "WIND", "WATER":
		return true
	}
	return false
}

// EnvironmentalImpactCategory is a category of environmental impact.
type EnvironmentalImpactCategory string

// Valid reports whether c is one of the spec's values.
func (c EnvironmentalImpactCategory) Valid() bool {
	return c == "NUCLEAR_WASTE" || c == "CARBON_DIOXIDE"
}
