package sqlite

import (
	"testing"

	"github.com/chargebridge/chargebridge/internal/store/sampled"
)

// typicalValues are the five sampled values of a typical MeterValues.
var typicalValues = sampled.Typical

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
