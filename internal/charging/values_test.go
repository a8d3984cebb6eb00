package charging_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func TestCursor(t *testing.T) {
	for _, pos := range []int64{1, 35, 36, 1 << 40, 1<<63 - 1} {
		c := charging.EncodeCursor(pos)
		got, err := charging.DecodeCursor(c)
		if err != nil || got != pos {
			t.Errorf("DecodeCursor(EncodeCursor(%d) = %q) = %d, %v; want %d", pos, c, got, err, pos)
		}
	}
	valid := charging.EncodeCursor(42)
	p, check, _ := strings.Cut(valid, ".")
	tests := []struct {
		name, cursor string
	}{
		{"empty", ""},
		{"garbage", "garbage"},
		{"no-check", p},
		{"empty-check", p + "."},
		{"wrong-check", p + ".0"},
		{"other-position", "43." + check},
		{"zero", charging.EncodeCursor(0)},
		{"negative", charging.EncodeCursor(-5)},
		{"not-base-36", "!!." + check},
		{"upper-case", strings.ToUpper(valid) + "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, err := charging.DecodeCursor(tt.cursor); !errors.Is(err, charging.ErrInvalidInput) {
				t.Errorf("DecodeCursor(%q) = %d, %v; want ErrInvalidInput", tt.cursor, n, err)
			}
		})
	}
}

func TestDeviceVariableMatches(t *testing.T) {
	v := charging.DeviceVariable{Component: "EVSE", ComponentInstance: "Left", Variable: "AvailabilityState", VariableInstance: "Phase1"}
	tests := []struct {
		q    string
		want bool
	}{
		{"", true},
		{"evse", true},
		{"LEFT", true},
		{"availability", true},
		{"phase1", true},
		{"ConnectorType", false},
		{"Right", false},
	}
	for _, tt := range tests {
		if got := v.Matches(tt.q); got != tt.want {
			t.Errorf("Matches(%q) = %v; want %v", tt.q, got, tt.want)
		}
	}
}

func TestRawJSON(t *testing.T) {
	type doc struct {
		R charging.RawJSON `json:"r"`
	}
	tests := []struct {
		name string
		in   charging.RawJSON
		want string
	}{
		{"empty-is-null", nil, `{"r":null}`},
		{"kept-verbatim", charging.RawJSON(`{"b":1,"a":[2]}`), `{"r":{"b":1,"a":[2]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(doc{tt.in})
			if err != nil || string(b) != tt.want {
				t.Errorf("Marshal = %s, %v; want %s", b, err, tt.want)
			}
		})
	}
	var d doc
	src := []byte(`{"r":{"x": "y"}}`)
	if err := json.Unmarshal(src, &d); err != nil || string(d.R) != `{"x": "y"}` {
		t.Fatalf("Unmarshal = %s, %v; want the value verbatim", d.R, err)
	}
	copy(src, "XXXXXXXXXXXXXXXX")
	if string(d.R) != `{"x": "y"}` {
		t.Errorf("RawJSON aliases the decoded input: %s", d.R)
	}
}

func TestSessionDuration(t *testing.T) {
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	before := start.Add(-time.Minute)
	tests := []struct {
		name  string
		ended *time.Time
		now   time.Time
		want  time.Duration
	}{
		{"running", nil, start.Add(time.Hour), time.Hour},
		{"clock-behind-start", nil, before, 0},
		{"ended-before-start", &before, start.Add(time.Hour), 0},
	}
	for _, tt := range tests {
		s := charging.Session{StartedAt: start, EndedAt: tt.ended}
		if got := s.Duration(tt.now); got != tt.want {
			t.Errorf("%s: Duration = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestRejectionAndChargerErrorText(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&charging.Rejection{Result: charging.CommandResult{Status: charging.CommandOccupied, Answer: "Occupied"}}, "charger answered Occupied"},
		{&charging.ChargerError{Code: "InternalError", Description: "relay stuck"}, "charger answered InternalError: relay stuck"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q; want %q", got, tt.want)
		}
	}
	if !charging.CommandScheduled.Took() || charging.CommandUnknown.Took() {
		t.Errorf("Took: scheduled %v unknown %v; want true false", charging.CommandScheduled.Took(), charging.CommandUnknown.Took())
	}
	for _, e := range charging.CommandErrors {
		if e == nil || e.Error() == "" {
			t.Errorf("CommandErrors holds %v", e)
		}
	}
}

// The router serves a charger whose protocol no adapter speaks with the
// fallback when there is one, and without a protocol lookup too.
func TestCommandRouterFallback(t *testing.T) {
	ctx := context.Background()
	var got []string
	tests := []struct {
		name     string
		protocol func(string) string
		fallback charging.Commands
		want     []string
		wantErr  error
	}{
		{"unknown-protocol-fallback", func(string) string { return "ocpp3" }, recorder{"fb", &got}, []string{"fb:unlock"}, nil},
		{"not-connected-fallback", func(string) string { return "" }, recorder{"fb", &got}, []string{"fb:unlock"}, nil},
		{"no-lookup-fallback", nil, recorder{"fb", &got}, []string{"fb:unlock"}, nil},
		{"no-lookup-no-fallback-offline", nil, nil, nil, charging.ErrNotConnected},
		{"known-protocol-adapter", func(string) string { return "ocpp1.6" }, recorder{"fb", &got}, []string{"v16:unlock"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			r := charging.NewCommandRouter(tt.protocol, map[string]charging.Commands{"ocpp1.6": recorder{"v16", &got}}, tt.fallback, nil)
			_, err := r.Unlock(ctx, charging.Unlock{ChargerID: "CP", ConnectorID: 1})
			if !errors.Is(err, tt.wantErr) || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Unlock: %v, routed %v; want %v, %v", err, got, tt.wantErr, tt.want)
			}
		})
	}
}

// The screen's record of an implausible reading names the transaction
// ("none" without one), the raw value with its unit, and the context.
func TestViolationExample(t *testing.T) {
	c := newCore(t, charging.Config{})
	ctx := context.Background()
	c.charger(t, "cp-1")
	v := charging.SampledValue{Measurand: charging.MeasurandEnergyImportRegister, Value: 1e300, Numeric: true, Raw: "1e300", RawUnit: "kWh", Context: "Sample.Clock"}
	if err := c.svc.MeterValues(ctx, charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1,
		Samples: []charging.MeterSample{{Timestamp: t0, Values: []charging.SampledValue{v}}}}); err != nil {
		t.Fatal(err)
	}
	recs, err := c.svc.Violations(ctx, "cp-1")
	if err != nil || len(recs) != 1 {
		t.Fatalf("Violations = %+v, %v; want one", recs, err)
	}
	want := "transaction none: Energy.Active.Import.Register 1e300 kWh (Sample.Clock)"
	if recs[0].Kind != charging.AnomalyRegisterImplausible || recs[0].LastExample != want {
		t.Errorf("violation %s %q; want %s %q", recs[0].Kind, recs[0].LastExample, charging.AnomalyRegisterImplausible, want)
	}
}
