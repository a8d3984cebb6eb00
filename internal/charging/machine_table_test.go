package charging_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

var (
	allStatuses = []charging.SessionStatus{charging.StatusNone, charging.SessionReserved, charging.SessionPending,
		charging.SessionActive, charging.SessionStopping, charging.SessionCompleted, charging.SessionInterrupted, charging.SessionInvalid}
	allEvents = []charging.SessionEvent{charging.ReservationAccepted, charging.ReservationCancelled, charging.ReservationExpired,
		charging.RemoteStartAccepted, charging.RemoteStartTimeout, charging.StartAccepted, charging.StartRefused,
		charging.Superseded, charging.RemoteStopAccepted, charging.StopCompleted, charging.StopInterrupted}
)

// TestEveryTransition checks every pair of status and event against
// DESIGN.md's session table, written out here independently of
// Transitions: a pair not listed must be refused with ErrConflict, and
// Transitions must hold no row that is not listed.
func TestEveryTransition(t *testing.T) {
	type key struct {
		from charging.SessionStatus
		ev   charging.SessionEvent
	}
	type want struct {
		to     charging.SessionStatus
		reason string
	}
	const (
		none        = charging.StatusNone
		reserved    = charging.SessionReserved
		pending     = charging.SessionPending
		active      = charging.SessionActive
		stopping    = charging.SessionStopping
		completed   = charging.SessionCompleted
		interrupted = charging.SessionInterrupted
		invalid     = charging.SessionInvalid
	)
	table := map[key]want{
		// reserved: ReserveNow accepted, Beckn confirm; a reservation that
		// leads to no charging ends completed (OCPI COMPLETED).
		{none, charging.ReservationAccepted}:      {reserved, ""},
		{reserved, charging.ReservationCancelled}: {completed, "ReservationCancelled"},
		{reserved, charging.ReservationExpired}:   {completed, "ReservationExpired"},
		// pending: remote start accepted; void when no start follows.
		{none, charging.RemoteStartAccepted}:   {pending, ""},
		{pending, charging.RemoteStartTimeout}: {invalid, "RemoteStartTimeout"},
		// active: a start, new or taking over a waiting session; invalid
		// when the id tag was refused.
		{none, charging.StartAccepted}:     {active, ""},
		{reserved, charging.StartAccepted}: {active, ""},
		{pending, charging.StartAccepted}:  {active, ""},
		{none, charging.StartRefused}:      {invalid, ""},
		{reserved, charging.StartRefused}:  {invalid, ""},
		{pending, charging.StartRefused}:   {invalid, ""},
		// interrupted: a session the charger lost (a later start on its
		// connector).
		{active, charging.Superseded}:   {interrupted, ""},
		{stopping, charging.Superseded}: {interrupted, ""},
		// stopping: a stop was requested and accepted.
		{active, charging.RemoteStopAccepted}: {stopping, ""},
		// completed / interrupted: the stop, as the adapter mapped its
		// reason; an ended session keeps its status.
		{active, charging.StopCompleted}:        {completed, ""},
		{stopping, charging.StopCompleted}:      {completed, ""},
		{active, charging.StopInterrupted}:      {interrupted, ""},
		{stopping, charging.StopInterrupted}:    {interrupted, ""},
		{completed, charging.StopCompleted}:     {completed, ""},
		{completed, charging.StopInterrupted}:   {completed, ""},
		{interrupted, charging.StopCompleted}:   {interrupted, ""},
		{interrupted, charging.StopInterrupted}: {interrupted, ""},
		{invalid, charging.StopCompleted}:       {invalid, ""},
		{invalid, charging.StopInterrupted}:     {invalid, ""},
	}
	for _, from := range allStatuses {
		for _, ev := range allEvents {
			name := string(from) + "/" + string(ev)
			if from == none {
				name = "none/" + string(ev)
			}
			t.Run(name, func(t *testing.T) {
				got, err := charging.Next(from, ev)
				w, ok := table[key{from, ev}]
				if !ok {
					if !errors.Is(err, charging.ErrConflict) {
						t.Errorf("Next(%q, %s) = %+v, %v; want ErrConflict", from, ev, got, err)
					}
					return
				}
				if err != nil || got.From != from || got.Event != ev || got.To != w.to || got.Reason != w.reason {
					t.Errorf("Next(%q, %s) = %+v, %v; want to %s reason %q", from, ev, got, err, w.to, w.reason)
				}
			})
		}
	}
	if len(charging.Transitions) != len(table) {
		t.Errorf("Transitions has %d rows; the table has %d", len(charging.Transitions), len(table))
	}
	for _, tr := range charging.Transitions {
		if _, ok := table[key{tr.From, tr.Event}]; !ok {
			t.Errorf("Transitions has %+v, which the table does not", tr)
		}
	}
}

func TestStep(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	earlier := at.Add(-time.Hour)
	exp := at.Add(time.Hour)
	tests := []struct {
		name       string
		in         charging.Session
		ev         charging.SessionEvent
		reason     string
		wantStatus charging.SessionStatus
		wantEnded  *time.Time
		wantReason string
		wantExpiry bool
	}{
		{"final-sets-end-and-table-reason", charging.Session{Status: charging.SessionReserved, ExpiresAt: &exp}, charging.ReservationExpired, "ignored",
			charging.SessionCompleted, &at, "ReservationExpired", false},
		{"final-takes-given-reason", charging.Session{Status: charging.SessionActive}, charging.StopInterrupted, "PowerLoss",
			charging.SessionInterrupted, &at, "PowerLoss", false},
		{"final-keeps-end-time", charging.Session{Status: charging.SessionActive, EndedAt: &earlier}, charging.Superseded, "",
			charging.SessionInterrupted, &earlier, "", false},
		{"not-final-no-end", charging.Session{Status: charging.SessionPending, ExpiresAt: &exp}, charging.StartAccepted, "x",
			charging.SessionActive, nil, "", true},
		{"ended-stays-and-keeps-reason", charging.Session{Status: charging.SessionInvalid, EndedAt: &earlier, StopReason: "RemoteStartTimeout"}, charging.StopCompleted, "Local",
			charging.SessionInvalid, &earlier, "RemoteStartTimeout", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Version = 7
			got, err := charging.Step(tt.in, tt.ev, at, tt.reason)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.wantStatus || got.StopReason != tt.wantReason || !got.LastUpdated.Equal(at) || got.Version != 7 {
				t.Errorf("Step = %s %q updated %v version %d; want %s %q updated %v version 7", got.Status, got.StopReason, got.LastUpdated, got.Version, tt.wantStatus, tt.wantReason, at)
			}
			if (got.EndedAt == nil) != (tt.wantEnded == nil) || got.EndedAt != nil && !got.EndedAt.Equal(*tt.wantEnded) {
				t.Errorf("ended %v; want %v", got.EndedAt, tt.wantEnded)
			}
			if (got.ExpiresAt != nil) != tt.wantExpiry {
				t.Errorf("expires %v; want set %v", got.ExpiresAt, tt.wantExpiry)
			}
		})
	}
	in := charging.Session{Status: charging.SessionActive}
	if got, err := charging.Step(in, charging.ReservationCancelled, at, ""); !errors.Is(err, charging.ErrConflict) || got.Status != charging.SessionActive {
		t.Errorf("Step(active, cancel) = %s, %v; want unchanged, ErrConflict", got.Status, err)
	}
}

func TestStopEvent(t *testing.T) {
	for st, want := range map[charging.SessionStatus]charging.SessionEvent{
		charging.SessionCompleted:   charging.StopCompleted,
		charging.SessionInterrupted: charging.StopInterrupted,
	} {
		if got := charging.StopEvent(st); got != want {
			t.Errorf("StopEvent(%s) = %s; want %s", st, got, want)
		}
	}
}

func TestApplyStop(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ended := at.Add(-time.Minute)
	exp := at.Add(time.Hour)
	tests := []struct {
		name        string
		in          charging.Session
		stop        charging.StopSession
		wantErr     bool
		wantStatus  charging.SessionStatus
		wantEnded   time.Time
		wantReg     float64
		wantAnomaly string
	}{
		{"reason-local-completes", charging.Session{Status: charging.SessionActive, LastRegisterWh: 100},
			charging.StopSession{MeterStopWh: 500, Reason: "Local", EndedAt: ended, ReceivedAt: at}, false, charging.SessionCompleted, ended, 500, ""},
		{"reason-fallback-interrupts", charging.Session{Status: charging.SessionStopping, LastRegisterWh: 100},
			charging.StopSession{MeterStopWh: 500, Reason: "PowerLoss", ReceivedAt: at}, false, charging.SessionInterrupted, at, 500, ""},
		{"adapter-status-wins", charging.Session{Status: charging.SessionActive, LastRegisterWh: 100, ExpiresAt: &exp},
			charging.StopSession{MeterStopWh: 500, Reason: "Other", Status: charging.SessionCompleted, ReceivedAt: at}, false, charging.SessionCompleted, at, 500, ""},
		{"interrupted-keeps-status", charging.Session{Status: charging.SessionInterrupted, LastRegisterWh: 100},
			charging.StopSession{MeterStopWh: 500, Status: charging.SessionCompleted, ReceivedAt: at}, false, charging.SessionInterrupted, at, 500, ""},
		{"below-register-within-slack", charging.Session{Status: charging.SessionActive, LastRegisterWh: 500.4},
			charging.StopSession{MeterStopWh: 500, Status: charging.SessionCompleted, ReceivedAt: at}, false, charging.SessionCompleted, at, 500.4, ""},
		{"jump-implausible", charging.Session{Status: charging.SessionActive, LastRegisterWh: 100},
			charging.StopSession{MeterStopWh: 100 + 2e10, Status: charging.SessionCompleted, ReceivedAt: at}, false, charging.SessionCompleted, at, 100, charging.AnomalyRegisterImplausible},
		{"reserved-cannot-stop", charging.Session{Status: charging.SessionReserved},
			charging.StopSession{MeterStopWh: 500, ReceivedAt: at}, true, charging.SessionReserved, time.Time{}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, an, err := charging.ApplyStop(tt.in, tt.stop)
			if tt.wantErr {
				if !errors.Is(err, charging.ErrConflict) || changed || got.Status != tt.wantStatus || got.MeterStopWh != nil {
					t.Errorf("ApplyStop = %+v changed %v, %v; want unchanged, ErrConflict", got, changed, err)
				}
				return
			}
			if err != nil || !changed {
				t.Fatalf("ApplyStop: changed %v, %v", changed, err)
			}
			if got.Status != tt.wantStatus || got.EndedAt == nil || !got.EndedAt.Equal(tt.wantEnded) || got.LastRegisterWh != tt.wantReg ||
				got.MeterStopWh == nil || *got.MeterStopWh != tt.stop.MeterStopWh || got.StopReason != tt.stop.Reason || got.ExpiresAt != nil || !got.LastUpdated.Equal(at) {
				t.Errorf("ApplyStop = %s ended %v register %v meter stop %v reason %q; want %s ended %v register %v meter stop %d reason %q",
					got.Status, got.EndedAt, got.LastRegisterWh, got.MeterStopWh, got.StopReason, tt.wantStatus, tt.wantEnded, tt.wantReg, tt.stop.MeterStopWh, tt.stop.Reason)
			}
			if tt.wantAnomaly == "" && len(an) != 0 || tt.wantAnomaly != "" && (len(an) != 1 || an[0].Kind != tt.wantAnomaly || len(got.Flags) != 1 || got.Flags[0] != tt.wantAnomaly) {
				t.Errorf("anomalies %v flags %v; want %q", an, got.Flags, tt.wantAnomaly)
			}
		})
	}
}

func TestFoldCases(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	v := func(measurand string, value float64) charging.SampledValue {
		return charging.SampledValue{Measurand: measurand, Value: value, Numeric: true}
	}
	reg := func(kwh float64) charging.SampledValue { return v(charging.MeasurandEnergyImportRegister, kwh) }
	soc, pow := charging.MeasurandSoC, charging.MeasurandPowerImport
	older, newer := at.Add(-time.Minute), at.Add(time.Minute)
	tests := []struct {
		name       string
		in         charging.Session
		m          charging.MeterValues
		wantReg    float64
		wantPower  *float64
		wantMax    float64
		wantSoC    *float64
		wantKinds  []string
		wantFlags  []string
		wantUpdate time.Time
	}{
		{"soc-and-power-of-newest-sample", charging.Session{LastRegisterWh: 1000},
			charging.MeterValues{ReceivedAt: at, Samples: []charging.MeterSample{
				{Timestamp: newer, Values: []charging.SampledValue{v(soc, 60), v(pow, 7)}},
				{Timestamp: older, Values: []charging.SampledValue{v(soc, 50), v(pow, 22)}},
			}}, 1000, ptr(7.0), 22, ptr(60.0), nil, nil, at},
		{"ties-go-to-the-later-value", charging.Session{},
			charging.MeterValues{ReceivedAt: at, Samples: []charging.MeterSample{{Timestamp: at, Values: []charging.SampledValue{v(soc, 10), v(soc, 11)}}}},
			0, nil, 0, ptr(11.0), nil, nil, at},
		{"older-than-stored-does-not-replace", charging.Session{LastPowerKW: ptr(3.0), LastPowerAt: &newer, SoC: ptr(80.0), SoCAt: &newer, MaxPowerKW: 3},
			charging.MeterValues{ReceivedAt: at, Samples: []charging.MeterSample{{Timestamp: older, Values: []charging.SampledValue{v(soc, 50), v(pow, 5)}}}},
			0, ptr(3.0), 5, ptr(80.0), nil, nil, at},
		{"values-that-do-not-count", charging.Session{LastRegisterWh: 1000},
			charging.MeterValues{ReceivedAt: at, Samples: []charging.MeterSample{{Timestamp: at, Values: []charging.SampledValue{
				{Measurand: charging.MeasurandEnergyImportRegister, Value: 5, Numeric: false},
				{Measurand: charging.MeasurandEnergyImportRegister, Value: math.NaN(), Numeric: true},
				{Measurand: charging.MeasurandEnergyImportRegister, Value: math.Inf(1), Numeric: true},
				{Measurand: charging.MeasurandEnergyImportRegister, Value: 5, Numeric: true, Location: "Inlet"},
				{Measurand: charging.MeasurandEnergyImportRegister, Value: 5, Numeric: true, Phase: "L1"},
				{Measurand: pow, Value: 50, Numeric: true, Phase: "L2"},
				{Measurand: charging.MeasurandVoltage, Value: 230, Numeric: true},
			}}}}, 1000, nil, 0, nil, nil, nil, at},
		{"cable-and-ev-locations-count", charging.Session{},
			charging.MeterValues{ReceivedAt: at, Samples: []charging.MeterSample{{Timestamp: at, Values: []charging.SampledValue{
				{Measurand: charging.MeasurandEnergyImportRegister, Value: 2, Numeric: true, Location: "Cable"},
				{Measurand: soc, Value: 40, Numeric: true, Location: "EV"},
			}}}}, 2000, nil, 0, ptr(40.0), nil, nil, at},
		{"jump-over-10-gwh-implausible", charging.Session{LastRegisterWh: 1000},
			charging.MeterValues{ReceivedAt: at, Samples: []charging.MeterSample{{Timestamp: at, Values: []charging.SampledValue{reg(1 + 1e7 + 1)}}}},
			1000, nil, 0, nil, []string{charging.AnomalyRegisterImplausible}, []string{charging.AnomalyRegisterImplausible}, at},
		{"within-slack-not-backwards", charging.Session{LastRegisterWh: 1000.4},
			charging.MeterValues{ReceivedAt: at, Samples: []charging.MeterSample{{Timestamp: at, Values: []charging.SampledValue{reg(1)}}}},
			1000.4, nil, 0, nil, nil, nil, at},
		{"same-anomaly-flagged-once", charging.Session{LastRegisterWh: 5000, Flags: []string{charging.AnomalyRegisterBackwards}},
			charging.MeterValues{ReceivedAt: at, Samples: []charging.MeterSample{{Timestamp: at, Values: []charging.SampledValue{reg(1), reg(2)}}}},
			5000, nil, 0, nil, []string{charging.AnomalyRegisterBackwards, charging.AnomalyRegisterBackwards}, []string{charging.AnomalyRegisterBackwards}, at},
		{"transaction-data-begin-and-periodic-normal", charging.Session{LastRegisterWh: 1000},
			charging.MeterValues{ReceivedAt: at, TransactionData: true, Samples: []charging.MeterSample{{Timestamp: at, Values: []charging.SampledValue{
				{Measurand: charging.MeasurandEnergyImportRegister, Value: 1, Numeric: true, Context: charging.ContextTransactionBegin},
				{Measurand: charging.MeasurandEnergyImportRegister, Value: 3, Numeric: true, Context: charging.ContextSamplePeriodic},
			}}}}, 3000, nil, 0, nil, nil, nil, at},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flagsBefore := append([]string(nil), tt.in.Flags...)
			got, an := charging.Fold(tt.in, tt.m)
			if got.LastRegisterWh != tt.wantReg || got.MaxPowerKW != tt.wantMax || !got.LastUpdated.Equal(tt.wantUpdate) {
				t.Errorf("register %v max %v updated %v; want %v %v %v", got.LastRegisterWh, got.MaxPowerKW, got.LastUpdated, tt.wantReg, tt.wantMax, tt.wantUpdate)
			}
			if !floatPtrEq(got.LastPowerKW, tt.wantPower) || !floatPtrEq(got.SoC, tt.wantSoC) {
				t.Errorf("power %v soc %v; want %v %v", deref(got.LastPowerKW), deref(got.SoC), deref(tt.wantPower), deref(tt.wantSoC))
			}
			var kinds []string
			for _, a := range an {
				kinds = append(kinds, a.Kind)
				if a.Example == "" {
					t.Errorf("anomaly %s has no example", a.Kind)
				}
			}
			if !equalStrings(kinds, tt.wantKinds) || !equalStrings(got.Flags, tt.wantFlags) {
				t.Errorf("anomalies %v flags %v; want %v %v", kinds, got.Flags, tt.wantKinds, tt.wantFlags)
			}
			if !equalStrings(tt.in.Flags, flagsBefore) {
				t.Errorf("Fold changed its input's flags: %v", tt.in.Flags)
			}
		})
	}
}

func floatPtrEq(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStatusPredicates(t *testing.T) {
	for _, s := range allStatuses {
		wantValid := s != charging.StatusNone
		wantFinal := s == charging.SessionCompleted || s == charging.SessionInterrupted || s == charging.SessionInvalid
		if s.Valid() != wantValid || s.Final() != wantFinal {
			t.Errorf("%q: Valid %v Final %v; want %v %v", s, s.Valid(), s.Final(), wantValid, wantFinal)
		}
	}
	if charging.SessionStatus("done").Valid() {
		t.Errorf(`"done" is Valid`)
	}
}

// StopReasonStatus is the stores' fallback (deprecated): DESIGN.md's 1.6
// reasons.
func TestStopReasonStatus(t *testing.T) {
	tests := []struct {
		reason string
		want   charging.SessionStatus
	}{
		{"", charging.SessionCompleted},
		{"Local", charging.SessionCompleted},
		{"Remote", charging.SessionCompleted},
		{"EVDisconnected", charging.SessionCompleted},
		{"EmergencyStop", charging.SessionInterrupted},
		{"PowerLoss", charging.SessionInterrupted},
		{"Reboot", charging.SessionInterrupted},
		{"HardReset", charging.SessionInterrupted},
		{"SoftReset", charging.SessionInterrupted},
		{"UnlockCommand", charging.SessionInterrupted},
		{"DeAuthorized", charging.SessionInterrupted},
		{"Other", charging.SessionInterrupted},
	}
	for _, tt := range tests {
		if got := charging.StopReasonStatus(tt.reason); got != tt.want {
			t.Errorf("StopReasonStatus(%q) = %s; want %s", tt.reason, got, tt.want)
		}
	}
}
