package charging_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func TestCommandResultOutcome(t *testing.T) {
	tests := []struct {
		status  charging.CommandStatus
		wantErr bool
	}{
		{charging.CommandAccepted, false},
		{charging.CommandScheduled, false},
		{charging.CommandRejected, true},
		{charging.CommandOccupied, true},
		{charging.CommandInoperative, true},
		{charging.CommandFailed, true},
		{charging.CommandUnsupported, true},
		{charging.CommandUnknown, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			res, err := charging.CommandResult{Status: tt.status, Answer: "X"}.Outcome()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Outcome() error = %v; want error %v", err, tt.wantErr)
			}
			if res.Status != tt.status {
				t.Errorf("Outcome() status = %s; want %s", res.Status, tt.status)
			}
			if err == nil {
				return
			}
			var rej *charging.Rejection
			if !errors.Is(err, charging.ErrRejected) || !errors.As(err, &rej) || rej.Result.Status != tt.status {
				t.Errorf("Outcome() error = %v; want a *Rejection matching ErrRejected", err)
			}
			if got, want := errors.Is(err, charging.ErrNotSupported), tt.status == charging.CommandUnsupported; got != want {
				t.Errorf("errors.Is(%v, ErrNotSupported) = %v; want %v", err, got, want)
			}
		})
	}
}

func TestChargerErrorMatches(t *testing.T) {
	for code, unsupported := range map[string]bool{"NotImplemented": true, "NotSupported": true, "InternalError": false, "GenericError": false} {
		err := fmt.Errorf("wrapped: %w", &charging.ChargerError{Code: code, Description: "d"})
		if !errors.Is(err, charging.ErrChargerError) {
			t.Errorf("%s: errors.Is(ErrChargerError) = false; want true", code)
		}
		if got := errors.Is(err, charging.ErrNotSupported); got != unsupported {
			t.Errorf("%s: errors.Is(ErrNotSupported) = %v; want %v", code, got, unsupported)
		}
		if errors.Is(err, charging.ErrRejected) {
			t.Errorf("%s: a protocol error matches ErrRejected", code)
		}
	}
}

func TestChargingLimitValidate(t *testing.T) {
	ok := charging.ChargingLimit{ChargerID: "CP", ConnectorID: 1, Purpose: charging.LimitTransaction, Limit: 7400, Unit: charging.LimitWatts}
	tests := []struct {
		name string
		edit func(*charging.ChargingLimit)
		bad  bool
	}{
		{"valid-watts", func(*charging.ChargingLimit) {}, false},
		{"valid-amps-default", func(l *charging.ChargingLimit) {
			l.Unit, l.Purpose, l.ConnectorID = charging.LimitAmps, charging.LimitDefault, 0
		}, false},
		{"zero-limit-pauses", func(l *charging.ChargingLimit) { l.Limit = 0 }, false},
		{"no-charger", func(l *charging.ChargingLimit) { l.ChargerID = "" }, true},
		{"bad-purpose", func(l *charging.ChargingLimit) { l.Purpose = "always" }, true},
		{"bad-unit", func(l *charging.ChargingLimit) { l.Unit = "kW" }, true},
		{"negative", func(l *charging.ChargingLimit) { l.Limit = -1 }, true},
		{"negative-connector", func(l *charging.ChargingLimit) { l.ConnectorID = -1 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ok
			tt.edit(&l)
			err := l.Validate()
			if (err != nil) != tt.bad {
				t.Fatalf("Validate() = %v; want error %v", err, tt.bad)
			}
			if err != nil && !errors.Is(err, charging.ErrInvalidInput) {
				t.Errorf("Validate() = %v; want ErrInvalidInput", err)
			}
		})
	}
}

// recorder is a command port that records which commands reached it.
type recorder struct {
	name string
	got  *[]string
}

func (r recorder) note(what string) (charging.CommandResult, error) {
	*r.got = append(*r.got, r.name+":"+what)
	return charging.CommandResult{Status: charging.CommandAccepted}, nil
}
func (r recorder) StartCharging(context.Context, charging.StartCharging) (charging.CommandResult, error) {
	return r.note("start")
}
func (r recorder) StopCharging(context.Context, charging.StopCharging) (charging.CommandResult, error) {
	return r.note("stop")
}
func (r recorder) Reserve(context.Context, charging.Reserve) (charging.CommandResult, error) {
	return r.note("reserve")
}
func (r recorder) CancelReservation(context.Context, charging.CancelReservation) (charging.CommandResult, error) {
	return r.note("cancel")
}
func (r recorder) Unlock(context.Context, charging.Unlock) (charging.CommandResult, error) {
	return r.note("unlock")
}
func (r recorder) Reset(context.Context, charging.Reset) (charging.CommandResult, error) {
	return r.note("reset")
}
func (r recorder) ChangeAvailability(context.Context, charging.ChangeAvailability) (charging.CommandResult, error) {
	return r.note("availability")
}
func (r recorder) SetChargingLimit(context.Context, charging.ChargingLimit) (charging.CommandResult, error) {
	return r.note("limit")
}

// sessions finds the sessions of a fixed list; nothing else is asked of it.
type sessions struct {
	charging.SessionStore
	byID map[string]charging.Session
}

func (s sessions) GetSession(_ context.Context, id string) (charging.Session, error) {
	if x, ok := s.byID[id]; ok {
		return x, nil
	}
	return charging.Session{}, charging.ErrNotFound
}

func TestCommandRouterPicksTheChargersProtocol(t *testing.T) {
	var got []string
	protocols := map[string]string{"CP-16": "ocpp1.6", "CP-201": "ocpp2.0.1"}
	r := charging.NewCommandRouter(func(id string) string { return protocols[id] },
		map[string]charging.Commands{"ocpp1.6": recorder{"v16", &got}, "ocpp2.0.1": recorder{"v201", &got}}, nil,
		sessions{byID: map[string]charging.Session{"S-201": {ID: "S-201", ChargerID: "CP-201"}}})
	ctx := context.Background()
	calls := []func() (charging.CommandResult, error){
		func() (charging.CommandResult, error) {
			return r.StartCharging(ctx, charging.StartCharging{ChargerID: "CP-16"})
		},
		func() (charging.CommandResult, error) {
			return r.StopCharging(ctx, charging.StopCharging{SessionID: "S-201"})
		},
		func() (charging.CommandResult, error) { return r.Reserve(ctx, charging.Reserve{ChargerID: "CP-201"}) },
		func() (charging.CommandResult, error) {
			return r.CancelReservation(ctx, charging.CancelReservation{ChargerID: "CP-16"})
		},
		func() (charging.CommandResult, error) { return r.Unlock(ctx, charging.Unlock{ChargerID: "CP-201"}) },
		func() (charging.CommandResult, error) { return r.Reset(ctx, charging.Reset{ChargerID: "CP-16"}) },
		func() (charging.CommandResult, error) {
			return r.ChangeAvailability(ctx, charging.ChangeAvailability{ChargerID: "CP-201"})
		},
		func() (charging.CommandResult, error) {
			return r.SetChargingLimit(ctx, charging.ChargingLimit{ChargerID: "CP-16", Purpose: charging.LimitDefault, Unit: charging.LimitAmps, Limit: 6})
		},
	}
	for i, c := range calls {
		if _, err := c(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	want := []string{"v16:start", "v201:stop", "v201:reserve", "v16:cancel", "v201:unlock", "v16:reset", "v201:availability", "v16:limit"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("routed = %v; want %v", got, want)
	}

	// A charger no adapter speaks for is offline; an unknown session is
	// not found; a bad limit never reaches an adapter.
	got = nil
	if _, err := r.Reset(ctx, charging.Reset{ChargerID: "CP-GONE"}); !errors.Is(err, charging.ErrNotConnected) {
		t.Errorf("Reset(CP-GONE) = %v; want ErrNotConnected", err)
	}
	if _, err := r.StopCharging(ctx, charging.StopCharging{SessionID: "S-NONE"}); !errors.Is(err, charging.ErrNotFound) {
		t.Errorf("StopCharging(S-NONE) = %v; want ErrNotFound", err)
	}
	if _, err := r.SetChargingLimit(ctx, charging.ChargingLimit{ChargerID: "CP-16", Purpose: charging.LimitDefault, Unit: "kW"}); !errors.Is(err, charging.ErrInvalidInput) {
		t.Errorf("SetChargingLimit(kW) = %v; want ErrInvalidInput", err)
	}
	if len(got) != 0 {
		t.Errorf("adapters were called: %v", got)
	}
}

func TestOfflineRefusesEveryCommand(t *testing.T) {
	ctx := context.Background()
	var o charging.Offline
	errs := []error{}
	for _, f := range []func() (charging.CommandResult, error){
		func() (charging.CommandResult, error) { return o.StartCharging(ctx, charging.StartCharging{}) },
		func() (charging.CommandResult, error) { return o.StopCharging(ctx, charging.StopCharging{}) },
		func() (charging.CommandResult, error) { return o.Reserve(ctx, charging.Reserve{}) },
		func() (charging.CommandResult, error) {
			return o.CancelReservation(ctx, charging.CancelReservation{})
		},
		func() (charging.CommandResult, error) { return o.Unlock(ctx, charging.Unlock{}) },
		func() (charging.CommandResult, error) { return o.Reset(ctx, charging.Reset{}) },
		func() (charging.CommandResult, error) {
			return o.ChangeAvailability(ctx, charging.ChangeAvailability{})
		},
		func() (charging.CommandResult, error) { return o.SetChargingLimit(ctx, charging.ChargingLimit{}) },
	} {
		_, err := f()
		errs = append(errs, err)
	}
	for i, err := range errs {
		if !errors.Is(err, charging.ErrNotConnected) {
			t.Errorf("command %d: %v; want ErrNotConnected", i, err)
		}
	}
}
