package sqlite

import (
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/sampled"
)

// Sampled values are stored in meter_samples.vbin in package sampled's
// binary form (migration 0014); rows written before 0014 keep their JSON in
// vals and are read as before.

// valueBinarySize is about what one sampled value takes in vbin.
const valueBinarySize = sampled.ValueSize

// appendValues appends vs in the binary form.
func appendValues(b []byte, vs []charging.SampledValue) ([]byte, error) { return sampled.Append(b, vs) }

// decodeBinaryValues reads the binary form.
func decodeBinaryValues(data []byte) ([]charging.SampledValue, error) { return sampled.Decode(data) }
