package sampled

import "github.com/chargebridge/chargebridge/internal/charging"

// Typical is the five sampled values of a typical MeterValues: the
// fixture of both stores' size checks and benchmarks of the codec.
var Typical = []charging.SampledValue{
	{Measurand: "Energy.Active.Import.Register", Location: "Outlet", Context: "Sample.Periodic", Unit: "kWh", Value: 12.345, Numeric: true, Raw: "12345", RawUnit: "Wh"},
	{Measurand: "Power.Active.Import", Location: "Outlet", Context: "Sample.Periodic", Unit: "kW", Value: 11, Numeric: true, Raw: "11000", RawUnit: "W"},
	{Measurand: "Current.Import", Location: "Outlet", Context: "Sample.Periodic", Unit: "A", Value: 16, Numeric: true, Raw: "16.0", RawUnit: "A"},
	{Measurand: "Voltage", Location: "Outlet", Context: "Sample.Periodic", Unit: "V", Value: 230, Numeric: true, Raw: "230", RawUnit: "V"},
	{Measurand: "SoC", Location: "EV", Context: "Sample.Periodic", Unit: "%", Value: 55, Numeric: true, Raw: "55", RawUnit: "Percent"},
}
