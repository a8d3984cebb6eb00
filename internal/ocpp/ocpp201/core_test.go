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
