package sqlite

import (
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// typicalValues are the five sampled values of a typical MeterValues.
var typicalValues = []charging.SampledValue{
	{Measurand: "Energy.Active.Import.Register", Location: "Outlet", Context: "Sample.Periodic", Unit: "kWh", Value: 12.345, Numeric: true, Raw: "12345", RawUnit: "Wh"},
	{Measurand: "Power.Active.Import", Location: "Outlet", Context: "Sample.Periodic", Unit: "kW", Value: 11, Numeric: true, Raw: "11000", RawUnit: "W"},
	{Measurand: "Current.Import", Location: "Outlet", Context: "Sample.Periodic", Unit: "A", Value: 16, Numeric: true, Raw: "16.0", RawUnit: "A"},
	{Measurand: "Voltage", Location: "Outlet", Context: "Sample.Periodic", Unit: "V", Value: 230, Numeric: true, Raw: "230", RawUnit: "V"},
	{Measurand: "SoC", Location: "EV", Context: "Sample.Periodic", Unit: "%", Value: 55, Numeric: true, Raw: "55", RawUnit: "Percent"},
}

// The binary form (package sampled, tested there) is what makes rows
// smaller than this store's JSON: a typical value takes a fraction of it.
func TestValuesBinarySize(t *testing.T) {
	b, _ := appendValues(nil, typicalValues)
	j, _ := appendValuesJSON(nil, typicalValues)
	if len(b)*4 > len(j) {
		t.Errorf("binary %d bytes vs JSON %d; want under a quarter", len(b), len(j))
	}
	t.Logf("five typical values: %d bytes binary, %d JSON", len(b), len(j))
}

func BenchmarkDecodeValues(b *testing.B) {
	bin, _ := appendValues(nil, typicalValues)
	j, _ := appendValuesJSON(nil, typicalValues)
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeBinaryValues(bin); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeValues(j); err != nil {
				b.Fatal(err)
			}
		}
	})
}
