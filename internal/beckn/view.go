package beckn

import (
	"math"
	"time"

	"github.com/chargebridge/chargebridge/internal/beckn/evsession"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// MaxTelemetryIntervals bounds the chargingTelemetry of one view: the most
// recent samples are kept, so a long session's status stays small.
const MaxTelemetryIntervals = 20

// SessionStatusOf maps the canonical status to Beckn's (DESIGN.md's table).
func SessionStatusOf(s charging.SessionStatus) evsession.SessionStatus {
	switch s {
	case charging.SessionReserved, charging.SessionPending:
		return evsession.StatusPending
	case charging.SessionActive:
		return evsession.StatusActive
	case charging.SessionStopping:
		return evsession.StatusStop
	case charging.SessionCompleted:
		return evsession.StatusCompleted
	}
	return evsession.StatusInterrupted
}

// ConnectorStatusOf is Beckn's connectorStatus of a connector's
// availability and state, the one place Beckn derives it: AVAILABLE when
// operative and free, PREPARING when operative and occupied, UNAVAILABLE
// otherwise.
func ConnectorStatusOf(c charging.Connector) evsession.ConnectorStatus {
	switch {
	case c.Availability != charging.Operative:
		return evsession.ConnectorUnavailable
	case c.State == charging.StateAvailable:
		return evsession.ConnectorAvailable
	case c.State == charging.StateOccupied:
		return evsession.ConnectorPreparing
	}
	return evsession.ConnectorUnavailable
}

// SessionContext is what the view needs beyond the session and its samples.
type SessionContext struct {
	// Connector is the session's connector, when known.
	Connector *charging.Connector
	// Units selects the ENERGY/POWER unit codes written.
	Units evsession.UnitStyle
	// TotalCost is the session's price, once priced.
	TotalCost *tariff.Price
	// Order carries what the BAP said in its order, echoed back.
	ReservationID      string
	GracePeriodMinutes *float64
	VehicleMake        string
	VehicleModel       string
	Preferences        *evsession.Preferences
	BuyerFinderFee     *evsession.BuyerFinderFee
	ConnectorType      string
	Now                time.Time
}

// SessionView is the EvChargingSession v2.0 attribute pack of a session.
func SessionView(s charging.Session, samples []charging.MeterSample, c SessionContext) (*evsession.Session, error) {
	out := evsession.New()
	out.SessionStatus = SessionStatusOf(s.Status)
	out.ConnectorStatus = evsession.ConnectorUnavailable
	if c.Connector != nil {
		out.ConnectorStatus = ConnectorStatusOf(*c.Connector)
	}
	out.ConnectorType = c.ConnectorType
	kwh := round(s.KWh(), 3)
	out.MeteredEnergyKWh = &kwh
	mins := round(s.Duration(c.Now).Minutes(), 2)
	out.MeteredDurationMinutes = &mins
	if s.MaxPowerKW >= 1 {
		p := round(s.MaxPowerKW, 3)
		out.MaxPowerKW = &p
	}
	out.LastUpdated = s.LastUpdated.UTC()
	out.ReservationID = c.ReservationID
	out.GracePeriodMinutes = c.GracePeriodMinutes
	out.VehicleMake, out.VehicleModel = c.VehicleMake, c.VehicleModel
	out.Preferences = c.Preferences
	out.BuyerFinderFee = c.BuyerFinderFee
	if c.TotalCost != nil {
		tc := &evsession.TotalCost{}
		ex := evsession.NewAmount(c.TotalCost.ExclVAT.Decimal)
		tc.ExclVAT = &ex
		if c.TotalCost.InclVAT != nil {
			in := evsession.NewAmount(c.TotalCost.InclVAT.Decimal)
			tc.InclVAT = &in
		}
		out.TotalCost = tc
	}
	if len(samples) > MaxTelemetryIntervals {
		samples = samples[len(samples)-MaxTelemetryIntervals:]
	}
	for _, sm := range samples {
		if iv, ok := telemetry(s, sm); ok {
			out.ChargingTelemetry = append(out.ChargingTelemetry, iv)
		}
	}
	if err := out.SetUnitStyle(c.Units); err != nil {
		return nil, err
	}
	return out, nil
}

// telemetry turns one meter sample into a telemetry interval: ENERGY is the
// energy delivered in the session so far, the others are the readings.
func telemetry(s charging.Session, sm charging.MeterSample) (evsession.TelemetryInterval, bool) {
	iv := evsession.TelemetryInterval{EventTime: sm.Timestamp.UTC()}
	add := func(name evsession.MetricName, v float64, unit evsession.UnitCode) {
		iv.Metrics = append(iv.Metrics, evsession.Metric{Name: name, Value: v, UnitCode: unit})
	}
	for _, v := range sm.Values {
		if !v.Numeric || v.Phase != "" || v.Flagged != "" {
			continue // flagged: kept, but not the session's (charging/screen.go)
		}
		switch v.Measurand {
		case charging.MeasurandEnergyImportRegister:
			e := v.Value - float64(max(s.MeterStartWh, 0))/1000
			if e < 0 {
				e = 0
			}
			add(evsession.MetricEnergy, round(e, 3), evsession.UnitKWH)
		case charging.MeasurandPowerImport:
			add(evsession.MetricPower, round(v.Value, 3), evsession.UnitKW)
		case charging.MeasurandCurrentImport:
			add(evsession.MetricCurrent, round(v.Value, 2), evsession.UnitAmpere)
		case charging.MeasurandVoltage:
			add(evsession.MetricVoltage, round(v.Value, 1), evsession.UnitVolt)
		case charging.MeasurandSoC:
			if v.Value >= 0 && v.Value <= 100 {
				add(evsession.MetricStateOfCharge, round(v.Value, 1), evsession.UnitPercentage)
			}
		}
	}
	return iv, len(iv.Metrics) > 0
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}
