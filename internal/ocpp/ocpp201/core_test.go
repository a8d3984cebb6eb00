package ocpp201

import (
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func TestStopStatus(t *testing.T) {
	tests := []struct {
		reason     string
		want       charging.SessionStatus
		wantReason string
	}{
		{"", charging.SessionCompleted, "Local"},
		{"Local", charging.SessionCompleted, "Local"},
		{"Remote", charging.SessionCompleted, "Remote"},
		{"EVDisconnected", charging.SessionCompleted, "EVDisconnected"},
		{"StoppedByEV", charging.SessionCompleted, "StoppedByEV"},
		{"SOCLimitReached", charging.SessionCompleted, "SOCLimitReached"},
		{"EnergyLimitReached", charging.SessionCompleted, "EnergyLimitReached"},
		{"TimeLimitReached", charging.SessionCompleted, "TimeLimitReached"},
		{"LocalOutOfCredit", charging.SessionCompleted, "LocalOutOfCredit"},
		{"DeAuthorized", charging.SessionInterrupted, "DeAuthorized"},
		{"EmergencyStop", charging.SessionInterrupted, "EmergencyStop"},
		{"GroundFault", charging.SessionInterrupted, "GroundFault"},
		{"ImmediateReset", charging.SessionInterrupted, "ImmediateReset"},
		{"MasterPass", charging.SessionInterrupted, "MasterPass"},
		{"OvercurrentFault", charging.SessionInterrupted, "OvercurrentFault"},
		{"PowerLoss", charging.SessionInterrupted, "PowerLoss"},
		{"PowerQuality", charging.SessionInterrupted, "PowerQuality"},
		{"Reboot", charging.SessionInterrupted, "Reboot"},
		{"Timeout", charging.SessionInterrupted, "Timeout"},
		{"Other", charging.SessionInterrupted, "Other"},
		{"HardReset", charging.SessionInterrupted, "HardReset"}, // a 1.6 reason is unknown to 2.0.1
	}
	for _, tt := range tests {
		t.Run("reason-"+tt.reason, func(t *testing.T) {
			got, reason := StopStatus(tt.reason)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("StopStatus(%q) = %s, %q; want %s, %q", tt.reason, got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestConnectorSplit(t *testing.T) {
	tests := []struct {
		status string
		avail  charging.Availability
		state  charging.ConnectorState
		shown  charging.ConnectorStatus
	}{
		{"Available", charging.Operative, charging.StateAvailable, charging.StatusAvailable},
		{"Occupied", charging.Operative, charging.StateOccupied, charging.StatusPreparing},
		{"Reserved", charging.Operative, charging.StateReserved, charging.StatusReserved},
		{"Unavailable", charging.Inoperative, charging.StateAvailable, charging.StatusUnavailable},
		{"Faulted", charging.Inoperative, charging.StateFaulted, charging.StatusFaulted},
		{"Preparing", "", charging.StateUnknown, charging.StatusUnknown}, // a 1.6 word is unknown to 2.0.1
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			a, s := ConnectorSplit(tt.status)
			if a != tt.avail || s != tt.state {
				t.Fatalf("ConnectorSplit(%q) = %q, %q; want %q, %q", tt.status, a, s, tt.avail, tt.state)
			}
			if got := charging.StatusOf(a, s); got != tt.shown {
				t.Errorf("StatusOf(%q, %q) = %q; want %q", a, s, got, tt.shown)
			}
		})
	}
}

func TestChargingState(t *testing.T) {
	tests := []struct {
		eventType, chargingState string
		want                     charging.ConnectorState
	}{
		{"Started", "Charging", charging.StateCharging},
		{"Updated", "SuspendedEV", charging.StateSuspendedEV},
		{"Updated", "SuspendedEVSE", charging.StateSuspendedEVSE},
		{"Updated", "EVConnected", charging.StateOccupied},
		{"Updated", "Idle", ""},
		{"Updated", "", ""},
		{"Ended", "EVConnected", charging.StateFinishing},
		{"Ended", "", charging.StateFinishing},
	}
	for _, tt := range tests {
		t.Run(tt.eventType+"-"+tt.chargingState, func(t *testing.T) {
			if got := ChargingState(tt.eventType, tt.chargingState); got != tt.want {
				t.Errorf("ChargingState(%q, %q) = %q; want %q", tt.eventType, tt.chargingState, got, tt.want)
			}
		})
	}
}
