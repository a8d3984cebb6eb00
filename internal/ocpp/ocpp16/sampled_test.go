package ocpp16

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func TestConvertSampledValue(t *testing.T) {
	tests := []struct {
		name string
		in   SampledValue
		want charging.SampledValue
	}{
		{"defaults-applied", SampledValue{Value: "12345"},
			charging.SampledValue{Measurand: "Energy.Active.Import.Register", Context: "Sample.Periodic", Location: "Outlet", Unit: "kWh", Value: 12.345, Numeric: true, Raw: "12345"}},
		{"kwh-kept", SampledValue{Value: "12.5", Unit: "kWh", Measurand: "Energy.Active.Import.Register"},
			charging.SampledValue{Measurand: "Energy.Active.Import.Register", Context: "Sample.Periodic", Location: "Outlet", Unit: "kWh", Value: 12.5, Numeric: true, Raw: "12.5", RawUnit: "kWh"}},
		{"watts-to-kw", SampledValue{Value: "11000", Unit: "W", Measurand: "Power.Active.Import", Phase: "L1", Context: "Sample.Clock"},
			charging.SampledValue{Measurand: "Power.Active.Import", Phase: "L1", Context: "Sample.Clock", Location: "Outlet", Unit: "kW", Value: 11, Numeric: true, Raw: "11000", RawUnit: "W"}},
		{"power-without-unit-is-watts", SampledValue{Value: "7400", Measurand: "Power.Active.Import"},
			charging.SampledValue{Measurand: "Power.Active.Import", Context: "Sample.Periodic", Location: "Outlet", Unit: "kW", Value: 7.4, Numeric: true, Raw: "7400"}},
		{"soc-percent", SampledValue{Value: "80", Measurand: "SoC", Unit: "Percent", Location: "EV"},
			charging.SampledValue{Measurand: "SoC", Context: "Sample.Periodic", Location: "EV", Unit: "%", Value: 80, Numeric: true, Raw: "80", RawUnit: "Percent"}},
		{"current-and-voltage", SampledValue{Value: " 16.2 ", Measurand: "Current.Import", Unit: "A"},
			charging.SampledValue{Measurand: "Current.Import", Context: "Sample.Periodic", Location: "Outlet", Unit: "A", Value: 16.2, Numeric: true, Raw: " 16.2 ", RawUnit: "A"}},
		{"signed-kept-verbatim", SampledValue{Value: "AP;0;3;ALCV3ABBBISHMA2RYEGAZE3HV5YQBQRQAEHAR2MN;BIHEIWSHAAA", Format: "SignedData"},
			charging.SampledValue{Measurand: "Energy.Active.Import.Register", Context: "Sample.Periodic", Location: "Outlet", Unit: "kWh", Raw: "AP;0;3;ALCV3ABBBISHMA2RYEGAZE3HV5YQBQRQAEHAR2MN;BIHEIWSHAAA", Signed: true}},
		{"garbage-kept-not-numeric", SampledValue{Value: "twelve"},
			charging.SampledValue{Measurand: "Energy.Active.Import.Register", Context: "Sample.Periodic", Location: "Outlet", Unit: "kWh", Raw: "twelve"}},
		{"nan-not-numeric", SampledValue{Value: "NaN"},
			charging.SampledValue{Measurand: "Energy.Active.Import.Register", Context: "Sample.Periodic", Location: "Outlet", Unit: "kWh", Raw: "NaN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ConvertSampledValue(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("ConvertSampledValue(%+v) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if v, err := strconv.ParseFloat(strings.TrimSpace(tt.in.Value), 64); err == nil && tt.in.Format != "SignedData" {
				if diff := cmp.Diff(tt.want, ConvertSampledNumber(tt.in, v)); diff != "" {
					t.Fatalf("ConvertSampledNumber(%+v, %v) mismatch (-want +got):\n%s", tt.in, v, diff)
				}
			}
		})
	}
}

// FuzzSampledValue checks that any sampled value converts without panicking
// to a finite value that survives a JSON round trip.
func FuzzSampledValue(f *testing.F) {
	f.Add("12345", "", "", "", "", "", "")
	f.Add("11.5", "kWh", "Energy.Active.Import.Register", "L1", "Outlet", "Sample.Clock", "Raw")
	f.Add("1e308", "W", "Power.Active.Import", "", "", "", "")
	f.Add("-0", "Percent", "SoC", "", "EV", "", "")
	f.Add("abc", "", "", "", "", "", "SignedData")
	f.Fuzz(func(t *testing.T, value, unit, measurand, phase, location, context, format string) {
		for _, s := range []string{value, unit, measurand, phase, location, context, format} {
			if !utf8.ValidString(s) {
				// Values reach the converter through encoding/json, which
				// never yields invalid UTF-8.
				return
			}
		}
		in := SampledValue{Value: value, Unit: unit, Measurand: measurand, Phase: phase, Location: location, Context: context, Format: format}
		got := ConvertSampledValue(in)
		if math.IsNaN(got.Value) || math.IsInf(got.Value, 0) {
			t.Fatalf("ConvertSampledValue(%+v).Value = %v; want finite", in, got.Value)
		}
		if got.Raw != value {
			t.Fatalf("Raw = %q; want %q kept verbatim", got.Raw, value)
		}
		if !got.Numeric && got.Value != 0 {
			t.Fatalf("non-numeric value carries %v", got.Value)
		}
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatalf("marshal %+v: %v", got, err)
		}
		var back charging.SampledValue
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if back.Raw != got.Raw || back.Numeric != got.Numeric || back.Unit != got.Unit || back.Measurand != got.Measurand {
			t.Fatalf("JSON round trip changed %+v into %+v", got, back)
		}
	})
}

func BenchmarkConvertSampledValue(b *testing.B) {
	sv := SampledValue{Value: "11000", Unit: "W", Measurand: "Power.Active.Import"}
	b.ReportAllocs()
	for b.Loop() {
		_ = ConvertSampledValue(sv)
	}
}

// FuzzSampledNumber: a value given as a number (OCPP 2.0.1) converts as
// its text would (ConvertSampledNumber skips reading the text again).
func FuzzSampledNumber(f *testing.F) {
	f.Add(12.345, "kWh", "Energy.Active.Import.Register")
	f.Add(7400.0, "", "Power.Active.Import")
	f.Add(-3.5, "kvarh", "Energy.Reactive.Import.Register")
	f.Add(1e308, "Wh", "")
	f.Add(80.0, "Percent", "SoC")
	f.Fuzz(func(t *testing.T, v float64, unit, measurand string) {
		sv := SampledValue{Value: strconv.FormatFloat(v, 'g', -1, 64), Unit: unit, Measurand: measurand}
		want, got := ConvertSampledValue(sv), ConvertSampledNumber(sv, v)
		if math.IsNaN(want.Value) && math.IsNaN(got.Value) {
			want.Value, got.Value = 0, 0
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("ConvertSampledNumber(%+v, %v) differs from ConvertSampledValue (-text +number):\n%s", sv, v, diff)
		}
	})
}
