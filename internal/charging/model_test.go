package charging

import (
	"testing"
	"time"
)

func TestObserve(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	samples := []MeterSample{
		{Timestamp: at, Values: []SampledValue{
			{Measurand: MeasurandEnergyImportRegister, Value: 10.5, Numeric: true, Location: "Outlet"},
			{Measurand: MeasurandPowerImport, Value: 11, Numeric: true},
			{Measurand: MeasurandPowerImport, Phase: "L1", Value: 50, Numeric: true},
			{Measurand: MeasurandEnergyImportRegister, Value: 99, Numeric: true, Location: "Inlet"},
		}},
		{Timestamp: at.Add(time.Minute), Values: []SampledValue{
			{Measurand: MeasurandEnergyImportRegister, Value: 12, Numeric: true},
			{Measurand: MeasurandPowerImport, Value: 7, Numeric: true},
			{Measurand: MeasurandSoC, Value: 55, Numeric: true, Location: "EV"},
			{Measurand: MeasurandEnergyImportRegister, Raw: "signed", Signed: true},
		}},
	}
	o := Observe(samples)
	if o.RegisterWh == nil || *o.RegisterWh != 12000 {
		t.Fatalf("register = %v; want 12000 Wh (Inlet and signed values ignored)", o.RegisterWh)
	}
	if o.MaxPowerKW != 11 || o.PowerKW == nil || *o.PowerKW != 7 {
		t.Fatalf("power max %v last %v; want max 11 (per-phase ignored), last 7", o.MaxPowerKW, o.PowerKW)
	}
	if o.SoC == nil || *o.SoC != 55 {
		t.Fatalf("soc = %v; want 55", o.SoC)
	}
}

func TestSessionEnergyAndDuration(t *testing.T) {
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	s := Session{MeterStartWh: 1000, LastRegisterWh: 13250, StartedAt: start}
	if got := s.KWh(); got != 12.25 {
		t.Fatalf("KWh = %v; want 12.25", got)
	}
	if got := s.Duration(start.Add(90 * time.Minute)); got != 90*time.Minute {
		t.Fatalf("running duration = %v; want 90m", got)
	}
	end := start.Add(time.Hour)
	s.EndedAt = &end
	if got := s.Duration(start.Add(5 * time.Hour)); got != time.Hour {
		t.Fatalf("ended duration = %v; want 1h", got)
	}
	s.LastRegisterWh = 500 // a meter that went backwards
	if got := s.KWh(); got != 0 {
		t.Fatalf("KWh with register below start = %v; want 0", got)
	}
}

func TestValidateChargerID(t *testing.T) {
	for _, ok := range []string{"CP-1", "a", "site.3:ev_2", "012345678901234567890123456789012345678901234567"} {
		if err := ValidateChargerID(ok); err != nil {
			t.Errorf("ValidateChargerID(%q) = %v; want ok", ok, err)
		}
	}
	for _, bad := range []string{"", "has space", "slash/inside", "0123456789012345678901234567890123456789012345678", "ü"} {
		if err := ValidateChargerID(bad); err == nil {
			t.Errorf("ValidateChargerID(%q) = nil; want an error", bad)
		}
	}
}
