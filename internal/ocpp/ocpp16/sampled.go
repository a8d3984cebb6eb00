package ocpp16

import (
	"math"
	"strconv"
	"strings"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// ConvertSampledValue applies OCPP 1.6's defaults to a sampled value and
// converts it to canonical units: energy kWh, power kW, reactive energy kvarh,
// reactive power kvar, current A, voltage V, state of charge %.
//
// Defaults: measurand Energy.Active.Import.Register, context Sample.Periodic,
// location Outlet, format Raw. The spec's unit default is Wh whatever the
// measurand, which is meaningless for, say, a current; when unit is absent we
// use the measurand's natural OCPP unit (W for power, A for current, V for
// voltage, Percent for SoC, Wh for energy) and say so in the doc, because
// that is what chargers that omit it mean.
//
// SignedData values are kept verbatim and not read as numbers. A value that
// is not a finite number is kept in Raw with Numeric false.
func ConvertSampledValue(sv SampledValue) charging.SampledValue {
	return convertSampled(sv, 0, false)
}

// ConvertSampledNumber is ConvertSampledValue for a value already read as
// the number v, sv.Value being its text: OCPP 2.0.1's values are JSON
// numbers, which need no second reading (#16).
func ConvertSampledNumber(sv SampledValue, v float64) charging.SampledValue {
	return convertSampled(sv, v, true)
}

// convertSampled is ConvertSampledValue; read says that v is sv.Value's
// number already.
func convertSampled(sv SampledValue, v float64, read bool) charging.SampledValue {
	out := charging.SampledValue{
		Measurand: sv.Measurand,
		Phase:     sv.Phase,
		Location:  sv.Location,
		Context:   sv.Context,
		Raw:       sv.Value,
		RawUnit:   sv.Unit,
	}
	if out.Measurand == "" {
		out.Measurand = charging.MeasurandEnergyImportRegister
	}
	if out.Context == "" {
		out.Context = "Sample.Periodic"
	}
	if out.Location == "" {
		out.Location = "Outlet"
	}
	unit := sv.Unit
	if unit == "" {
		unit = naturalUnit(out.Measurand)
	}
	if sv.Format == "SignedData" {
		out.Signed = true
		out.Unit = canonicalUnit(unit)
		return out
	}
	if !read {
		var err error
		if v, err = strconv.ParseFloat(strings.TrimSpace(sv.Value), 64); err != nil {
			v = math.NaN()
		}
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		out.Unit = canonicalUnit(unit)
		return out
	}
	out.Numeric = true
	out.Value, out.Unit = convert(v, unit)
	return out
}

func naturalUnit(measurand string) string {
	switch {
	case strings.HasPrefix(measurand, "Energy.Reactive"):
		return "varh"
	case strings.HasPrefix(measurand, "Energy"):
		return "Wh"
	case strings.HasPrefix(measurand, "Power.Reactive"):
		return "var"
	case strings.HasPrefix(measurand, "Power.Factor"):
		return ""
	case strings.HasPrefix(measurand, "Power"):
		return "W"
	case strings.HasPrefix(measurand, "Current"):
		return "A"
	case measurand == "Voltage":
		return "V"
	case measurand == "SoC":
		return "Percent"
	case measurand == "Temperature":
		return "Celsius"
	case measurand == "Frequency":
		return "Hz"
	case measurand == "RPM":
		return ""
	}
	return "Wh"
}

// convert scales v from an OCPP unit to the canonical one.
func convert(v float64, unit string) (float64, string) {
	switch unit {
	case "Wh":
		return v / 1000, "kWh"
	case "W":
		return v / 1000, "kW"
	case "varh":
		return v / 1000, "kvarh"
	case "var":
		return v / 1000, "kvar"
	case "VA":
		return v / 1000, "kVA"
	}
	return v, canonicalUnit(unit)
}

func canonicalUnit(unit string) string {
	switch unit {
	case "Wh", "kWh":
		return "kWh"
	case "W", "kW":
		return "kW"
	case "varh", "kvarh":
		return "kvarh"
	case "var", "kvar":
		return "kvar"
	case "VA", "kVA":
		return "kVA"
	case "Percent":
		return "%"
	}
	return unit
}
