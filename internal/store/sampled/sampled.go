// Package sampled is the compact binary form in which the stores keep a
// meter sample's sampled values (SQLite since its migration 0014), shared
// so that every store writes and reads the same bytes.
package sampled

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// A MeterValues is mostly the same few words (measurands, units, contexts,
// locations), which JSON spelled out in every row, so a typical sampled
// value takes about 110 bytes of JSON and about 20 here. Fewer bytes per
// row are fewer pages per commit and a smaller database.
//
// The form: the byte Format, the number of values (uvarint), then per
// value a flags byte (valueNumeric, valueSigned), the float64 bits of Value
// (8 bytes, little endian: its sign, -0 included, is kept) and eight
// strings in the order Measurand, Phase, Location, Context, Unit, Raw,
// RawUnit, Flagged. A string is a uvarint n: 0 is "", 2k+1 is
// valueWords[k], 2k+2 a literal of k bytes that follow (kept byte for
// byte).

// Format is the first byte of the form.
const Format = 1

// ValueSize is about what one sampled value takes: flags, value, five
// words and a short raw reading.
const ValueSize = 24

const (
	valueNumeric = 1 << iota
	valueSigned
)

// valueWords are the strings stored as one byte. The list is part of the
// stored format: append to it, never reorder or remove.
var valueWords = [...]string{
	// Measurands (OCPP 1.6 and 2.0.1).
	"Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC",
	"Energy.Active.Export.Register", "Energy.Reactive.Export.Register", "Energy.Reactive.Import.Register",
	"Energy.Active.Export.Interval", "Energy.Active.Import.Interval", "Energy.Reactive.Export.Interval",
	"Energy.Reactive.Import.Interval", "Power.Active.Export", "Power.Reactive.Export", "Power.Reactive.Import",
	"Power.Offered", "Power.Factor", "Current.Export", "Current.Offered", "Frequency", "Temperature", "RPM",
	"Energy.Active.Net", "Energy.Apparent.Net", "Energy.Apparent.Import", "Energy.Apparent.Export",
	"Energy.Reactive.Net", "Power.Reactive",
	// Phases.
	"L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1",
	// Locations.
	"Outlet", "Inlet", "Body", "Cable", "EV",
	// Contexts.
	"Sample.Periodic", "Sample.Clock", "Transaction.Begin", "Transaction.End", "Trigger", "Interruption.Begin",
	"Interruption.End", "Other",
	// Units (as sent and canonical).
	"Wh", "kWh", "varh", "kvarh", "W", "kW", "VA", "kVA", "var", "kvar", "A", "V", "K", "Celcius", "Celsius",
	"Fahrenheit", "Percent", "%", "Hz",
	// Flags the core sets.
	charging.AnomalyRegisterImplausible, charging.AnomalyRegisterBackwards, charging.AnomalyBeginAndPeriodic,
}

// wordIndex finds a word's position in valueWords.
var wordIndex = func() map[string]uint64 {
	m := make(map[string]uint64, len(valueWords))
	for i, w := range valueWords {
		if _, dup := m[w]; dup {
			panic("sampled: valueWords lists " + w + " twice")
		}
		m[w] = uint64(i)
	}
	return m
}()

// Append appends vs in the binary form. Values must be finite, as with
// JSON; a NaN or infinity is charging.ErrInvalidInput.
func Append(b []byte, vs []charging.SampledValue) ([]byte, error) {
	b = append(b, Format)
	b = binary.AppendUvarint(b, uint64(len(vs)))
	for i := range vs {
		v := &vs[i]
		if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
			return nil, fmt.Errorf("%w: sampled value %s is %v; store only finite values", charging.ErrInvalidInput, v.Measurand, v.Value)
		}
		var flags byte
		if v.Numeric {
			flags |= valueNumeric
		}
		if v.Signed {
			flags |= valueSigned
		}
		b = append(b, flags)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.Value))
		for _, s := range [...]string{v.Measurand, v.Phase, v.Location, v.Context, v.Unit, v.Raw, v.RawUnit, v.Flagged} {
			b = appendWord(b, s)
		}
	}
	return b, nil
}

func appendWord(b []byte, s string) []byte {
	if s == "" {
		return append(b, 0)
	}
	if k, ok := wordIndex[s]; ok {
		return binary.AppendUvarint(b, 2*k+1)
	}
	b = binary.AppendUvarint(b, 2*uint64(len(s))+2)
	return append(b, s...)
}

// ErrCorrupt is returned for bytes that are not the binary form.
var ErrCorrupt = errors.New("decode sampled values")

// Decode reads the binary form. Strings are copied out of data, which the
// caller may reuse.
func Decode(data []byte) ([]charging.SampledValue, error) {
	if len(data) == 0 || data[0] != Format {
		return nil, fmt.Errorf("%w: not format %d", ErrCorrupt, Format)
	}
	p := data[1:]
	n, k := binary.Uvarint(p)
	// Each value takes at least 17 bytes: a bound on n before allocating.
	if k <= 0 || n > uint64(len(p))/17 {
		return nil, fmt.Errorf("%w: bad count", ErrCorrupt)
	}
	p = p[k:]
	vs := make([]charging.SampledValue, n)
	for i := range vs {
		if len(p) < 9 {
			return nil, fmt.Errorf("%w: value %d is cut short", ErrCorrupt, i)
		}
		v := &vs[i]
		flags := p[0]
		if flags&^(valueNumeric|valueSigned) != 0 {
			return nil, fmt.Errorf("%w: value %d has unknown flags %#x", ErrCorrupt, i, flags)
		}
		v.Numeric, v.Signed = flags&valueNumeric != 0, flags&valueSigned != 0
		v.Value = math.Float64frombits(binary.LittleEndian.Uint64(p[1:9]))
		p = p[9:]
		for j, dst := range [...]*string{&v.Measurand, &v.Phase, &v.Location, &v.Context, &v.Unit, &v.Raw, &v.RawUnit, &v.Flagged} {
			var err error
			if *dst, p, err = readWord(p); err != nil {
				return nil, fmt.Errorf("%w: value %d, string %d: %v", ErrCorrupt, i, j, err)
			}
		}
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last value", ErrCorrupt, len(p))
	}
	return vs, nil
}

func readWord(p []byte) (string, []byte, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 {
		return "", nil, errors.New("bad length")
	}
	p = p[k:]
	switch {
	case n == 0:
		return "", p, nil
	case n%2 == 1:
		i := (n - 1) / 2
		if i >= uint64(len(valueWords)) {
			return "", nil, fmt.Errorf("unknown word %d", i)
		}
		return valueWords[i], p, nil
	}
	l := n/2 - 1
	if l > uint64(len(p)) {
		return "", nil, errors.New("cut short")
	}
	return string(p[:l]), p[l:], nil
}
