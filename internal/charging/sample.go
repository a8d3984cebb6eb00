package charging

import "time"

// Measurands, as OCPP 1.6 names them. Energy.Active.Import.Register is the
// default when a sampled value names none.
const (
	MeasurandEnergyImportRegister = "Energy.Active.Import.Register"
	MeasurandPowerImport          = "Power.Active.Import"
	MeasurandCurrentImport        = "Current.Import"
	MeasurandVoltage              = "Voltage"
	MeasurandSoC                  = "SoC"
)

// SampledValue is one reported value in canonical units: energy kWh, power
// kW, current A, voltage V, state of charge %. Raw and RawUnit keep what the
// charger sent, so nothing it reported is lost; signed meter values keep
// their SignedData verbatim in Raw with Signed set.
type SampledValue struct {
	Measurand string  `json:"measurand"`
	Phase     string  `json:"phase,omitempty"`
	Location  string  `json:"location,omitempty"`
	Context   string  `json:"context,omitempty"`
	Unit      string  `json:"unit,omitempty"`
	Value     float64 `json:"value"`
	// Numeric is false when Raw could not be read as a number (signed data,
	// or a charger that sent garbage): Value is then 0 and must be ignored.
	Numeric bool   `json:"numeric"`
	Raw     string `json:"raw"`
	RawUnit string `json:"raw_unit,omitempty"`
	Signed  bool   `json:"signed,omitempty"`
	// Flagged names why the value is kept but not applied to the
	// session's totals (AnomalyRegisterImplausible, …); "" for a value in use.
	Flagged string `json:"flagged,omitempty"`
}

// MeterSample is the set of values a charger sampled at one instant.
type MeterSample struct {
	Timestamp time.Time      `json:"timestamp"`
	Values    []SampledValue `json:"values"`
}

// Observed is what a set of samples says about a session: the highest energy
// register reading, the latest power and state of charge, the peak power.
type Observed struct {
	RegisterWh *float64
	PowerKW    *float64
	MaxPowerKW float64
	SoC        *float64
}

// Observe summarizes samples. Only numeric Outlet (or unspecified) values
// count; per-phase power is not summed into the total, which OCPP reports
// without a phase.
func Observe(samples []MeterSample) Observed {
	var o Observed
	for _, s := range samples {
		for _, v := range s.Values {
			if !v.Numeric || v.Flagged != "" || (v.Location != "" && v.Location != "Outlet" && v.Location != "Cable" && v.Location != "EV") {
				continue
			}
			switch {
			case v.Measurand == MeasurandEnergyImportRegister && v.Phase == "":
				wh := v.Value * 1000
				if o.RegisterWh == nil || wh > *o.RegisterWh {
					o.RegisterWh = &wh
				}
			case v.Measurand == MeasurandPowerImport && v.Phase == "":
				p := v.Value
				o.PowerKW = &p
				if p > o.MaxPowerKW {
					o.MaxPowerKW = p
				}
			case v.Measurand == MeasurandSoC:
				soc := v.Value
				o.SoC = &soc
			}
		}
	}
	return o
}
