package evsession

import "fmt"

// MetricName names a telemetry quantity.
type MetricName string

// Telemetry quantities.
const (
	MetricEnergy        MetricName = "ENERGY"
	MetricPower         MetricName = "POWER"
	MetricCurrent       MetricName = "CURRENT"
	MetricVoltage       MetricName = "VOLTAGE"
	MetricStateOfCharge MetricName = "STATE_OF_CHARGE"
)

// UnitCode is a telemetry unit code.
type UnitCode string

// Unit codes. KWT is the UN/CEFACT code for kilowatt; it is accepted for
// POWER on input but never written.
const (
	UnitKWH        UnitCode = "KWH"
	UnitKW         UnitCode = "KW"
	UnitKWT        UnitCode = "KWT"
	UnitAmpere     UnitCode = "AMP"
	UnitVolt       UnitCode = "VLT"
	UnitPercentage UnitCode = "PERCENTAGE"
)

// UnitStyle selects the unit codes written for ENERGY and POWER. The other
// metrics have one code in every style.
type UnitStyle int

const (
	// UnitsPhysical writes ENERGY as KWH and POWER as KW, as the DEG field
	// reference does. It is the default (zero value).
	UnitsPhysical UnitStyle = iota
	// UnitsSwapped writes ENERGY as KW and POWER as KWH, following the
	// upstream EvChargingSession unitCode description and the DEG v2
	// examples. It is a compatibility switch for peers that validate
	// against that text; the values themselves stay in kWh and kW.
	UnitsSwapped
)

// String returns the style's configuration name: "physical" or "swapped".
func (s UnitStyle) String() string {
	switch s {
	case UnitsPhysical:
		return "physical"
	case UnitsSwapped:
		return "swapped"
	}
	return fmt.Sprintf("UnitStyle(%d)", int(s))
}

// ParseUnitStyle reads a configuration value written by UnitStyle.String.
func ParseUnitStyle(s string) (UnitStyle, error) {
	switch s {
	case "physical", "":
		return UnitsPhysical, nil
	case "swapped":
		return UnitsSwapped, nil
	}
	return 0, fmt.Errorf("unit style %q: want \"physical\" (ENERGY KWH, POWER KW) or \"swapped\" (ENERGY KW, POWER KWH, as the upstream examples)", s)
}

// UnitCodeFor returns the code written for metric in style.
func UnitCodeFor(metric MetricName, style UnitStyle) (UnitCode, error) {
	if style != UnitsPhysical && style != UnitsSwapped {
		return "", fmt.Errorf("unknown unit style %d", int(style))
	}
	swapped := style == UnitsSwapped
	switch metric {
	case MetricEnergy:
		if swapped {
			return UnitKW, nil
		}
		return UnitKWH, nil
	case MetricPower:
		if swapped {
			return UnitKWH, nil
		}
		return UnitKW, nil
	case MetricCurrent:
		return UnitAmpere, nil
	case MetricVoltage:
		return UnitVolt, nil
	case MetricStateOfCharge:
		return UnitPercentage, nil
	}
	return "", fmt.Errorf("unknown telemetry metric %q", metric)
}

// NormalizeUnitCode returns the physically right code for a reading of
// metric received with code, accepting the swapped spelling: ENERGY with
// KWH or KW gives KWH; POWER with KW, KWT or KWH gives KW; CURRENT needs AMP,
// VOLTAGE VLT, STATE_OF_CHARGE PERCENTAGE. Because the metric fixes the
// quantity, the swap is never ambiguous: the value is in kWh for ENERGY and
// kW for POWER whichever code came with it.
func NormalizeUnitCode(metric MetricName, code UnitCode) (UnitCode, error) {
	want, err := UnitCodeFor(metric, UnitsPhysical)
	if err != nil {
		return "", err
	}
	switch {
	case code == want,
		metric == MetricEnergy && code == UnitKW,
		metric == MetricPower && (code == UnitKWH || code == UnitKWT):
		return want, nil
	}
	return "", fmt.Errorf("unit code %q is not valid for %s; want %s", code, metric, want)
}

// SetUnitStyle rewrites the unit code of every telemetry reading in s to the
// code of style, after checking it is valid for the metric.
func (s *Session) SetUnitStyle(style UnitStyle) error {
	for i := range s.ChargingTelemetry {
		for j := range s.ChargingTelemetry[i].Metrics {
			m := &s.ChargingTelemetry[i].Metrics[j]
			if _, err := NormalizeUnitCode(m.Name, m.UnitCode); err != nil {
				return fmt.Errorf("chargingTelemetry[%d].metrics[%d]: %w", i, j, err)
			}
			code, err := UnitCodeFor(m.Name, style)
			if err != nil {
				return err
			}
			m.UnitCode = code
		}
	}
	return nil
}
