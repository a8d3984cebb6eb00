package charging

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

func TestTransitions(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		from       SessionStatus
		ev         SessionEvent
		want       SessionStatus
		wantReason string
		wantErr    bool
	}{
		{"reservation-accepted", StatusNone, ReservationAccepted, SessionReserved, "", false},
		{"reservation-cancelled", SessionReserved, ReservationCancelled, SessionCompleted, "ReservationCancelled", false},
		{"reservation-expired", SessionReserved, ReservationExpired, SessionCompleted, "ReservationExpired", false},
		{"remote-start-accepted", StatusNone, RemoteStartAccepted, SessionPending, "", false},
		{"remote-start-timeout", SessionPending, RemoteStartTimeout, SessionInvalid, "RemoteStartTimeout", false},
		{"start-new", StatusNone, StartAccepted, SessionActive, "", false},
		{"start-takes-reservation", SessionReserved, StartAccepted, SessionActive, "", false},
		{"start-takes-pending", SessionPending, StartAccepted, SessionActive, "", false},
		{"start-refused", StatusNone, StartRefused, SessionInvalid, "", false},
		{"stale-active-superseded", SessionActive, Superseded, SessionInterrupted, "", false},
		{"stale-stopping-superseded", SessionStopping, Superseded, SessionInterrupted, "", false},
		{"remote-stop-accepted", SessionActive, RemoteStopAccepted, SessionStopping, "", false},
		{"stop", SessionActive, StopCompleted, SessionCompleted, "Local", false},
		{"stop-interrupted", SessionStopping, StopInterrupted, SessionInterrupted, "PowerLoss", false},
		{"stop-of-interrupted-keeps-status", SessionInterrupted, StopCompleted, SessionInterrupted, "", false},
		{"stop-of-invalid-keeps-status", SessionInvalid, StopCompleted, SessionInvalid, "", false},
		{"cancel-of-active-conflicts", SessionActive, ReservationCancelled, SessionActive, "", true},
		{"remote-stop-of-reserved-conflicts", SessionReserved, RemoteStopAccepted, SessionReserved, "", true},
		{"stop-creates-nothing", StatusNone, StopCompleted, StatusNone, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Step(Session{Status: tt.from}, tt.ev, at, tt.wantReason)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Step error = %v; want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrConflict) {
					t.Errorf("error %v is not ErrConflict", err)
				}
				return
			}
			if got.Status != tt.want {
				t.Errorf("status = %s; want %s", got.Status, tt.want)
			}
			if tt.want.Final() && !tt.from.Final() && (got.EndedAt == nil || got.StopReason != tt.wantReason) {
				t.Errorf("ended %v reason %q; want ended at %v reason %q", got.EndedAt, got.StopReason, at, tt.wantReason)
			}
		})
	}
}

func TestApplyStopRepeatedAndImplausible(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Session{Status: SessionActive, MeterStartWh: 100, LastRegisterWh: 100}
	got, changed, an, err := ApplyStop(s, StopSession{MeterStopWh: 1100, Reason: "Local", Status: SessionCompleted, ReceivedAt: at})
	if err != nil || !changed || len(an) != 0 || got.Status != SessionCompleted || got.KWh() != 1 {
		t.Fatalf("stop: %+v changed %v anomalies %v err %v; want completed with 1 kWh", got, changed, an, err)
	}
	again, changed, _, _ := ApplyStop(got, StopSession{MeterStopWh: 5000, Status: SessionCompleted, ReceivedAt: at})
	if changed || *again.MeterStopWh != 1100 {
		t.Errorf("repeated stop changed the session: %+v", again)
	}
	back, _, an, _ := ApplyStop(Session{Status: SessionActive, LastRegisterWh: 2000}, StopSession{MeterStopWh: 10, Status: SessionCompleted, ReceivedAt: at})
	if len(an) != 1 || an[0].Kind != AnomalyRegisterBackwards || back.LastRegisterWh != 2000 {
		t.Errorf("backwards stop: anomalies %v register %v; want register-backwards, register 2000", an, back.LastRegisterWh)
	}
}

func TestFold(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reg := func(kwh float64, ctx string) SampledValue {
		return SampledValue{Measurand: MeasurandEnergyImportRegister, Value: kwh, Numeric: true, Context: ctx}
	}
	pow := func(kw float64) SampledValue {
		return SampledValue{Measurand: MeasurandPowerImport, Value: kw, Numeric: true}
	}
	tests := []struct {
		name     string
		samples  []MeterSample
		wantReg  float64
		wantPow  float64
		wantMax  float64
		wantKind string
	}{
		{"newest-power-highest-register", []MeterSample{
			{Timestamp: at.Add(time.Minute), Values: []SampledValue{reg(2, ContextSamplePeriodic), pow(7)}},
			{Timestamp: at, Values: []SampledValue{reg(1.5, ContextSamplePeriodic), pow(11)}},
		}, 2000, 7, 11, AnomalyRegisterBackwards},
		{"implausible-register", []MeterSample{{Timestamp: at, Values: []SampledValue{reg(1e297, ContextSamplePeriodic)}}}, 1000, 0, 0, AnomalyRegisterImplausible},
		{"begin-and-periodic", []MeterSample{{Timestamp: at, Values: []SampledValue{reg(5000, ContextTransactionBegin), reg(1.2, ContextSamplePeriodic)}}}, 1200, 0, 0, AnomalyBeginAndPeriodic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, an := Fold(Session{Status: SessionActive, MeterStartWh: 1000, LastRegisterWh: 1000}, MeterValues{Samples: tt.samples, ReceivedAt: at})
			if got.LastRegisterWh != tt.wantReg || got.MaxPowerKW != tt.wantMax {
				t.Errorf("register %v max %v; want %v %v", got.LastRegisterWh, got.MaxPowerKW, tt.wantReg, tt.wantMax)
			}
			if tt.wantPow != 0 && (got.LastPowerKW == nil || *got.LastPowerKW != tt.wantPow) {
				t.Errorf("power %v; want %v", got.LastPowerKW, tt.wantPow)
			}
			if len(an) == 0 || an[0].Kind != tt.wantKind || len(got.Flags) == 0 {
				t.Errorf("anomalies %v flags %v; want %s", an, got.Flags, tt.wantKind)
			}
		})
	}
}

func TestStartAnomalies(t *testing.T) {
	if an := StartAnomalies(-5, 2147483648, 2); len(an) != 2 {
		t.Errorf("StartAnomalies(-5, 2147483648, 2) = %v; want meter-start-negative and connector-out-of-range", an)
	}
	if an := StartAnomalies(0, 1, 0); len(an) != 0 {
		t.Errorf("StartAnomalies(0, 1, 0) = %v; want none", an)
	}
	if kwh := (&Session{MeterStartWh: -5, LastRegisterWh: 1000}).KWh(); kwh != 1 {
		t.Errorf("KWh with meterStart -5 = %v; want 1 (a negative start counts as 0)", kwh)
	}
}

func TestStatusSetsForStores(t *testing.T) {
	eq := func(what string, got []SessionStatus, want ...SessionStatus) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v; want %v", what, got, want)
		}
	}
	eq("StatusesFrom(Superseded)", StatusesFrom(Superseded), SessionActive, SessionStopping)
	eq("StatusesFrom(StartAccepted)", StatusesFrom(StartAccepted), SessionReserved, SessionPending)
	if got := SupersededStatus(); got != SessionInterrupted {
		t.Errorf("SupersededStatus() = %s; want interrupted", got)
	}
	for _, s := range []SessionStatus{SessionReserved, SessionPending, SessionActive, SessionStopping, SessionCompleted, SessionInterrupted, SessionInvalid} {
		if s.Open() != slices.Contains(OpenStatuses, s) {
			t.Errorf("%s: Open() %v disagrees with OpenStatuses %v", s, s.Open(), OpenStatuses)
		}
	}
}

// registerAnomaly is the one rule both the screen (screen.go) and the fold
// apply to an energy register reading.
func TestRegisterAnomaly(t *testing.T) {
	for _, tt := range []struct {
		last, wh float64
		want     string
	}{
		{-1, 0, ""},
		{-1, 5e11, ""},
		{-1, -1, AnomalyRegisterImplausible},
		{-1, 1e300, AnomalyRegisterImplausible},
		{-1, math.NaN(), AnomalyRegisterImplausible},
		{1000, 1000 + MaxRegisterJumpWh + 1, AnomalyRegisterImplausible},
		{1000, 1000 + MaxRegisterJumpWh, ""},
		{1000, 999.6, ""}, // within RegisterSlackWh
		{1000, 999, AnomalyRegisterBackwards},
	} {
		if got := registerAnomaly(tt.last, tt.wh); got != tt.want {
			t.Errorf("registerAnomaly(%v, %v) = %q; want %q", tt.last, tt.wh, got, tt.want)
		}
	}
}
