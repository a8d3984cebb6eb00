package sampled

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		vs   []charging.SampledValue
	}{
		{"none", []charging.SampledValue{}},
		{"typical", Typical},
		{"empty-value", []charging.SampledValue{{}}},
		{"every-field-literal", []charging.SampledValue{{Measurand: "x-vendor", Phase: "L9", Location: "Roof", Context: "Whenever",
			Unit: "furlongs", Value: -1e-300, Numeric: true, Raw: "\"quoted\" \\ \n\x00 ünï \xff\xfe", RawUnit: "µWh", Signed: true, Flagged: "made-up"}}},
		{"flagged", []charging.SampledValue{{Measurand: "Energy.Active.Import.Register", Value: 1e13, Numeric: true, Raw: "1e16",
			Flagged: charging.AnomalyRegisterImplausible}}},
		{"extremes", []charging.SampledValue{{Value: math.MaxFloat64}, {Value: math.SmallestNonzeroFloat64}, {Value: math.Copysign(0, -1)}, {Value: 1e21}}},
		{"signed-data", []charging.SampledValue{{Measurand: "Energy.Active.Import.Register", Context: "Transaction.End", Unit: "kWh",
			Raw: "<?xml version=\"1.0\"?><signedMeterValue>OCMF|{}</signedMeterValue>", RawUnit: "Wh", Signed: true}}},
		{"long-literal", []charging.SampledValue{{Raw: string(bytes.Repeat([]byte("r"), 70000))}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Append(nil, tt.vs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if d := cmp.Diff(tt.vs, got); d != "" {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
			for i := range min(len(got), len(tt.vs)) {
				if math.Signbit(got[i].Value) != math.Signbit(tt.vs[i].Value) {
					t.Errorf("value %d: sign of %v lost", i, tt.vs[i].Value)
				}
			}
		})
	}
}

// The binary form is what makes rows smaller: a typical value takes a
// fraction of its JSON.
func TestSize(t *testing.T) {
	b, _ := Append(nil, Typical)
	j, _ := json.Marshal(Typical)
	if len(b)*4 > len(j) {
		t.Errorf("binary %d bytes vs JSON %d; want under a quarter", len(b), len(j))
	}
	t.Logf("five typical values: %d bytes binary, %d JSON", len(b), len(j))
}

func TestRejects(t *testing.T) {
	if _, err := Append(nil, []charging.SampledValue{{Value: math.NaN()}}); !errors.Is(err, charging.ErrInvalidInput) {
		t.Errorf("NaN: got %v; want ErrInvalidInput", err)
	}
	good, _ := Append(nil, Typical[:1])
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"json", []byte(`[{"measurand":"SoC"}]`)},
		{"count-beyond-data", []byte{Format, 100}},
		{"cut-short", good[:len(good)-1]},
		{"trailing-bytes", append(append([]byte{}, good...), 0)},
		{"unknown-flags", func() []byte { b := append([]byte{}, good...); b[2] = 0x80; return b }()},
		{"unknown-word", append([]byte{Format, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0)},
		{"literal-beyond-data", append([]byte{Format, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0xfe, 0x7f, 0, 0, 0, 0, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if vs, err := Decode(tt.data); !errors.Is(err, ErrCorrupt) {
				t.Errorf("got %+v, %v; want an error", vs, err)
			}
		})
	}
}

// FuzzDecode: decoding any bytes never panics, and what decodes
// encodes back to bytes that decode to the same values.
func FuzzDecode(f *testing.F) {
	good, _ := Append(nil, Typical)
	f.Add(good)
	f.Add([]byte{Format, 0})
	f.Add([]byte(`[{"measurand":"SoC"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		vs, err := Decode(data)
		if err != nil {
			return
		}
		again, err := Append(nil, vs)
		if err != nil {
			if math.IsNaN(vs[0].Value) || math.IsInf(vs[0].Value, 0) || errors.Is(err, charging.ErrInvalidInput) {
				return // a stored NaN is refused on the way in
			}
			t.Fatalf("encode decoded values: %v", err)
		}
		out, err := Decode(again)
		if err != nil {
			t.Fatalf("decode re-encoded values: %v", err)
		}
		if d := cmp.Diff(vs, out, cmp.Comparer(func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) })); d != "" {
			t.Errorf("round trip (-first +second):\n%s", d)
		}
	})
}

// FuzzFromCharger: whatever sampled values a charger's message turns
// into round-trip through the binary form unchanged (JSON made them).
func FuzzFromCharger(f *testing.F) {
	j, _ := json.Marshal(Typical)
	f.Add(j)
	f.Fuzz(func(t *testing.T, data []byte) {
		var vs []charging.SampledValue
		if json.Unmarshal(data, &vs) != nil {
			return
		}
		b, err := Append(nil, vs)
		if err != nil {
			return
		}
		out, err := Decode(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if d := cmp.Diff(vs, out, cmp.Comparer(func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) })); d != "" {
			t.Errorf("round trip (-want +got):\n%s", d)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Append(nil, Typical); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	bin, _ := Append(nil, Typical)
	j, _ := json.Marshal(Typical)
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(bin); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var vs []charging.SampledValue
			if err := json.Unmarshal(j, &vs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
