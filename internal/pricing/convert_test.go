package pricing

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func minute(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

// sample is a meter sample at minute m: register kWh and power kW (a
// negative value leaves it out).
func sample(m int, kwh, kw float64) charging.MeterSample {
	s := charging.MeterSample{Timestamp: minute(m)}
	if kwh >= 0 {
		s.Values = append(s.Values, charging.SampledValue{Measurand: charging.MeasurandEnergyImportRegister, Value: kwh, Numeric: true, Location: "Outlet"})
	}
	if kw >= 0 {
		s.Values = append(s.Values, charging.SampledValue{Measurand: charging.MeasurandPowerImport, Value: kw, Numeric: true})
	}
	return s
}

func ended(m int, stopWh int64) charging.Session {
	end := minute(m)
	return charging.Session{ID: "s", StartedAt: t0, EndedAt: &end, Status: charging.SessionCompleted, MeterStartWh: 1000, MeterStopWh: &stopWh}
}

func running() charging.Session {
	return charging.Session{ID: "s", StartedAt: t0, Status: charging.SessionActive, MeterStartWh: 1000}
}

// describe writes samples as "minute:kWh[@kW]" and statuses as "minute=status".
func describe(in tariff.Session) string {
	var b strings.Builder
	for _, s := range in.Samples {
		fmt.Fprintf(&b, "%d:%s", int(s.At.Sub(t0)/time.Minute), s.EnergyKWh)
		if s.PowerKW.Valid {
			fmt.Fprintf(&b, "@%s", s.PowerKW.Decimal)
		}
		if s.CurrentA.Valid {
			fmt.Fprintf(&b, "/%sA", s.CurrentA.Decimal)
		}
		b.WriteString(" ")
	}
	for _, st := range in.Statuses {
		fmt.Fprintf(&b, "%d=%s ", int(st.At.Sub(t0)/time.Minute), st.Status)
	}
	return strings.TrimSpace(b.String())
}

func TestSessionInput(t *testing.T) {
	tests := []struct {
		name    string
		sess    charging.Session
		samples []charging.MeterSample
		want    string
	}{{
		name:    "charge-then-park-until-stop",
		sess:    ended(120, 21000),
		samples: []charging.MeterSample{sample(0, 1, 0), sample(30, 11, 20), sample(60, 21, 0), sample(90, 21, 0)},
		// Energy flows from 0 to 60; from 60 the register stays and the
		// power is 0: parking, until the stop at 120.
		want: "0:0@0 30:10@20 60:20@0 90:20@0 120:20 60=parking",
	}, {
		name:    "no-parking-before-energy-flows",
		sess:    ended(60, 11000),
		samples: []charging.MeterSample{sample(0, 1, 0), sample(10, 1, 0), sample(60, 11, 0)},
		want:    "0:0@0 10:0@0 60:10@0",
	}, {
		name:    "parking-then-charging-again",
		sess:    ended(90, 16000),
		samples: []charging.MeterSample{sample(0, 1, 11), sample(30, 6, 0), sample(60, 6, 11)},
		want:    "0:0@11 30:5@0 60:5@11 90:15 30=parking 60=charging",
	}, {
		name: "power-without-energy-increase-is-charging",
		// A register counting whole kWh stays put while 11 kW flow.
		sess:    ended(20, 3000),
		samples: []charging.MeterSample{sample(0, 1, 11), sample(5, 1, 11), sample(10, 2, 11)},
		want:    "0:0@11 5:0@11 10:1@11 20:2",
	}, {
		name:    "register-going-down-is-held",
		sess:    ended(30, 5000),
		samples: []charging.MeterSample{sample(10, 3, -1), sample(20, 2.5, -1)},
		// Held, the register did not increase from 10 to 20 and no power
		// was reported: that is parking, by the rule.
		want: "0:0 10:2 20:2 30:4 10=parking 20=charging",
	}, {
		name:    "sample-without-energy-is-interpolated",
		sess:    ended(40, 9000),
		samples: []charging.MeterSample{sample(10, -1, 12)},
		want:    "0:0 10:2@12 40:8",
	}, {
		name:    "register-below-meter-start-is-zero",
		sess:    ended(10, 1500),
		samples: []charging.MeterSample{sample(0, 0.2, -1)},
		want:    "0:0 10:0.5",
	}, {
		name:    "running-tail-without-power-parks",
		sess:    running(),
		samples: []charging.MeterSample{sample(0, 1, 7), sample(30, 4.5, 0)},
		want:    "0:0@7 30:3.5@0 30=parking",
	}, {
		name:    "running-tail-with-power-charges",
		sess:    running(),
		samples: []charging.MeterSample{sample(0, 1, 7), sample(30, 4.5, 0), sample(40, 4.5, 7)},
		want:    "0:0@7 30:3.5@0 40:3.5@7 30=parking 40=charging",
	}, {
		name:    "samples-outside-the-session-are-ignored",
		sess:    ended(10, 2000),
		samples: []charging.MeterSample{sample(-5, 0.5, 3), sample(15, 9, 3)},
		want:    "0:0 10:1",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, _ := SessionInput(tt.sess, tt.samples)
			if got := describe(in); got != tt.want {
				t.Fatalf("got  %s; want %s", got, tt.want)
			}
		})
	}
}

func TestSessionInputMergesValues(t *testing.T) {
	s := running()
	// One instant reported twice (a periodic sample and a clock-aligned
	// one), with per-phase currents and a signed value that is not a number.
	a := charging.MeterSample{Timestamp: minute(5), Values: []charging.SampledValue{
		{Measurand: charging.MeasurandEnergyImportRegister, Value: 2, Numeric: true},
		{Measurand: charging.MeasurandCurrentImport, Phase: "L1", Value: 16, Numeric: true},
		{Measurand: charging.MeasurandCurrentImport, Phase: "L2", Value: 15.5, Numeric: true},
		{Measurand: charging.MeasurandCurrentImport, Phase: "L3", Value: 16, Numeric: true},
		{Measurand: charging.MeasurandEnergyImportRegister, Raw: "<signed>", Signed: true},
	}}
	b := charging.MeterSample{Timestamp: minute(5), Values: []charging.SampledValue{
		{Measurand: charging.MeasurandPowerImport, Value: 11, Numeric: true},
		{Measurand: charging.MeasurandEnergyImportRegister, Value: 2, Numeric: true, Location: "Inlet"},
		{Measurand: charging.MeasurandPowerImport, Phase: "L1", Value: 3.7, Numeric: true},
	}}
	in, last := SessionInput(s, []charging.MeterSample{a, b})
	if got, want := describe(in), "0:0 5:1@11/47.5A"; got != want {
		t.Fatalf("got %s; want %s", got, want)
	}
	if !last.Equal(minute(5)) {
		t.Fatalf("last observation %s; want %s", last, minute(5))
	}
}
