package ocpp16

import (
	"errors"
	"sync"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// errFallback sends a payload the fast path cannot take to encoding/json.
var errFallback = errors.New("decode with encoding/json")

// decodeMeterValues reads a validated MeterValues payload without
// reflection: it is the message a fleet sends most, and encoding/json took
// a fifth of the server's CPU on it. A number too large or fractional where
// an integer belongs falls back to encoding/json, so errors read the same.
//
// m's slices are reused: a MeterValuesReq from meterValuesPool decodes
// without allocating, its strings sharing the payload's memory (payload is
// HandleCall's, never modified afterwards).
func decodeMeterValues(payload []byte, m *MeterValuesReq) error {
	if err := fastMeterValues(payload, m); err != nil {
		*m = MeterValuesReq{}
		return decode(payload, m)
	}
	return nil
}

// meterValuesPool holds decoded MeterValues whose slices are reused by
// the next one; putMeterValues clears them first.
var meterValuesPool = sync.Pool{New: func() any { return new(MeterValuesReq) }}

// putMeterValues returns m to the pool, dropping its strings (they share
// the payload) but keeping its slices' room.
func putMeterValues(m *MeterValuesReq) {
	mvs := m.MeterValue[:cap(m.MeterValue)]
	for i := range mvs {
		svs := mvs[i].SampledValue[:cap(mvs[i].SampledValue)]
		clear(svs)
		mvs[i] = MeterValue{SampledValue: svs[:0]}
	}
	*m = MeterValuesReq{MeterValue: mvs[:0]}
	meterValuesPool.Put(m)
}

func fastMeterValues(payload []byte, m *MeterValuesReq) error {
	m.ConnectorID, m.TransactionID = 0, nil
	m.MeterValue = m.MeterValue[:0]
	d := ocpp.NewSharedDecoder(payload)
	return d.Object(func(name []byte) error {
		switch string(name) {
		case "connectorId":
			n, err := d.Int()
			m.ConnectorID = int(n)
			if int64(m.ConnectorID) != n {
				return errFallback
			}
			return err
		case "transactionId":
			n, err := d.Int()
			m.TransactionID = &n
			return err
		case "meterValue":
			return decodeMeterValueList(d, &m.MeterValue)
		}
		return d.Skip()
	})
}

// nextMeterValue takes the next element of out, with the room its sampled
// values had when this MeterValuesReq was last used, emptied.
func nextMeterValue(out *[]MeterValue) *MeterValue {
	if n := len(*out); n < cap(*out) {
		*out = (*out)[:n+1]
	} else {
		*out = append(*out, MeterValue{})
	}
	mv := &(*out)[len(*out)-1]
	mv.Timestamp, mv.SampledValue = "", mv.SampledValue[:0]
	if mv.SampledValue == nil {
		mv.SampledValue = make([]SampledValue, 0, 6)
	}
	return mv
}

func decodeMeterValueList(d *ocpp.Decoder, out *[]MeterValue) error {
	return d.Array(func() error {
		mv := nextMeterValue(out)
		return d.Object(func(name []byte) error {
			switch string(name) {
			case "timestamp":
				s, err := d.String()
				mv.Timestamp = s
				return err
			case "sampledValue":
				return d.Array(func() error {
					var sv SampledValue
					err := d.Object(func(name []byte) error {
						s, err := d.String()
						switch string(name) {
						case "value":
							sv.Value = s
						case "context":
							sv.Context = s
						case "format":
							sv.Format = s
						case "measurand":
							sv.Measurand = s
						case "phase":
							sv.Phase = s
						case "location":
							sv.Location = s
						case "unit":
							sv.Unit = s
						}
						return err
					})
					mv.SampledValue = append(mv.SampledValue, sv)
					return err
				})
			}
			return d.Skip()
		})
	})
}
