// Package evsession is the Beckn DEG EvChargingSession v2.0 attribute pack:
// the charging-session object a BPP puts in an order's fulfillment (in the
// DEG v2 examples, beckn:fulfillment.beckn:deliveryAttributes) and, for the
// buyer's fee and preferences, in beckn:orderAttributes.
//
// It provides the Go form of the pack (Session), chargebridge's own JSON
// Schema for it (embedded; see Validator), and the telemetry unit-code
// handling: upstream's schema text and examples swap the energy and power
// codes (ENERGY "KW", POWER "KWH"). This package reads both spellings,
// normalizes to the physically right codes (ENERGY "KWH", POWER "KW"), and
// writes the right codes unless a peer is configured for UnitsSwapped.
package evsession

import (
	"time"
)

// JSON-LD identity of the pack.
const (
	// Type is the pack's JSON-LD @type.
	Type = "ChargingSession"
	// ContextURL is the JSON-LD @context written by New: the published
	// location of the v2.0 context document.
	ContextURL = "https://schema.beckn.io/EvChargingSession/v2.0/context.jsonld"
)

// Session is an EvChargingSession v2.0 attribute pack. Every field is
// optional on the wire except the JSON-LD keys; the pointer fields tell "0"
// from "absent".
type Session struct {
	Context string `json:"@context"`
	Type    string `json:"@type"`

	SessionStatus   SessionStatus   `json:"sessionStatus,omitempty"`
	ConnectorStatus ConnectorStatus `json:"connectorStatus,omitempty"`
	// ConnectorType is the connector used, e.g. "CCS2" or "Type2".
	ConnectorType string `json:"connectorType,omitempty"`

	BuyerFinderFee *BuyerFinderFee `json:"buyerFinderFee,omitempty"`

	// MaxPowerKW is the peak power observed or allowed, kW (at least 1).
	MaxPowerKW *float64 `json:"maxPowerKW,omitempty"`
	// MeteredEnergyKWh is the energy delivered, kWh.
	MeteredEnergyKWh *float64 `json:"meteredEnergyKWh,omitempty"`
	// MeteredDurationMinutes is the session's duration so far, minutes.
	MeteredDurationMinutes *float64 `json:"meteredDurationMinutes,omitempty"`

	ChargingTelemetry []TelemetryInterval `json:"chargingTelemetry,omitempty"`
	TotalCost         *TotalCost          `json:"totalCost,omitempty"`
	// LastUpdated is when telemetry or billing data last changed.
	LastUpdated time.Time `json:"lastUpdated,omitzero"`

	// ReservationID identifies the reservation held for the order.
	ReservationID string `json:"reservationId,omitempty"`
	// GracePeriodMinutes is how long after the scheduled start the
	// reservation is held.
	GracePeriodMinutes *float64 `json:"gracePeriodMinutes,omitempty"`

	VehicleMake  string       `json:"vehicleMake,omitempty"`
	VehicleModel string       `json:"vehicleModel,omitempty"`
	Preferences  *Preferences `json:"preferences,omitempty"`
}

// New returns an empty Session carrying the pack's JSON-LD @context and
// @type.
func New() *Session {
	return &Session{Context: ContextURL, Type: Type}
}

// SessionStatus is the state of a charging session.
type SessionStatus string

// Session states.
const (
	StatusPending     SessionStatus = "PENDING"
	StatusActive      SessionStatus = "ACTIVE"
	StatusStop        SessionStatus = "STOP" // stop requested, not yet confirmed
	StatusCompleted   SessionStatus = "COMPLETED"
	StatusInterrupted SessionStatus = "INTERRUPTED"
)

// ConnectorStatus is the state of the session's connector.
type ConnectorStatus string

// Connector states.
const (
	ConnectorAvailable   ConnectorStatus = "AVAILABLE"
	ConnectorPreparing   ConnectorStatus = "PREPARING"
	ConnectorUnavailable ConnectorStatus = "UNAVAILABLE"
)

// FeeType says how a BuyerFinderFee's value is read.
type FeeType string

// Fee types.
const (
	FeePercentage FeeType = "PERCENTAGE"
	FeeAmount     FeeType = "AMOUNT"
)

// BuyerFinderFee is the commission the provider pays the BAP.
type BuyerFinderFee struct {
	FeeType FeeType `json:"feeType"`
	// FeeValue is a percentage (0-100) or an amount in the order's currency.
	FeeValue Amount `json:"feeValue"`
}

// TotalCost is the session's cost in the order's currency.
type TotalCost struct {
	ExclVAT *Amount `json:"exclVat,omitempty"`
	InclVAT *Amount `json:"inclVat,omitempty"`
}

// Preferences is the charging window the buyer asked for.
type Preferences struct {
	StartTime time.Time `json:"startTime,omitzero"`
	EndTime   time.Time `json:"endTime,omitzero"`
}

// TelemetryInterval is the set of readings taken at one instant.
type TelemetryInterval struct {
	EventTime time.Time `json:"eventTime"`
	Metrics   []Metric  `json:"metrics"`
}

// Metric is one telemetry reading.
type Metric struct {
	Name     MetricName `json:"name"`
	Value    float64    `json:"value"`
	UnitCode UnitCode   `json:"unitCode"`
}
