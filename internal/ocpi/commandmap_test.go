package ocpi

import (
	"errors"
	"fmt"
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// TestEveryCommandErrorHasAnOCPIResult: each core command error maps to a
// CommandResultType of its own table entry, and each core status too.
func TestEveryCommandErrorHasAnOCPIResult(t *testing.T) {
	for _, e := range charging.CommandErrors {
		found := false
		for _, m := range commandErrorResults {
			found = found || m.err == e
		}
		if !found {
			t.Errorf("core command error %q has no OCPI result in commandErrorResults", e)
		}
	}
	for _, st := range []charging.CommandStatus{charging.CommandAccepted, charging.CommandScheduled, charging.CommandRejected,
		charging.CommandOccupied, charging.CommandInoperative, charging.CommandFailed, charging.CommandUnsupported, charging.CommandUnknown} {
		if _, ok := commandStatusResults[st]; !ok {
			t.Errorf("core command status %q has no OCPI result", st)
		}
	}
}

func TestCommandResult(t *testing.T) {
	rejected := func(st charging.CommandStatus) error {
		_, err := charging.CommandResult{Status: st, Answer: string(st)}.Outcome()
		return err
	}
	tests := []struct {
		name    string
		res     charging.CommandResult
		err     error
		unknown string
		want    string
	}{
		{"accepted", charging.CommandResult{Status: charging.CommandAccepted}, nil, "", "ACCEPTED"},
		{"occupied", charging.CommandResult{}, rejected(charging.CommandOccupied), "", "EVSE_OCCUPIED"},
		{"inoperative", charging.CommandResult{}, rejected(charging.CommandInoperative), "", "EVSE_INOPERATIVE"},
		{"unlock-failed", charging.CommandResult{}, rejected(charging.CommandFailed), "", "FAILED"},
		{"not-supported-answer", charging.CommandResult{}, rejected(charging.CommandUnsupported), "", "NOT_SUPPORTED"},
		{"unknown-reservation", charging.CommandResult{}, rejected(charging.CommandUnknown), "UNKNOWN_RESERVATION", "UNKNOWN_RESERVATION"},
		{"unknown-elsewhere", charging.CommandResult{}, rejected(charging.CommandUnknown), "", "REJECTED"},
		{"timeout", charging.CommandResult{}, fmt.Errorf("x: %w", charging.ErrTimeout), "", "TIMEOUT"},
		{"not-implemented", charging.CommandResult{}, &charging.ChargerError{Code: "NotImplemented"}, "", "NOT_SUPPORTED"},
		{"internal-error", charging.CommandResult{}, &charging.ChargerError{Code: "InternalError"}, "", "FAILED"},
		{"offline", charging.CommandResult{}, fmt.Errorf("x: %w", charging.ErrNotConnected), "", "EVSE_INOPERATIVE"},
		{"other", charging.CommandResult{}, errors.New("disk on fire"), "", "FAILED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := commandResult(tt.res, tt.err, tt.unknown).Result; got != tt.want {
				t.Errorf("commandResult = %s; want %s", got, tt.want)
			}
		})
	}
}
