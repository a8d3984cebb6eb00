package ocpp16

import (
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func TestStartKey(t *testing.T) {
	ts := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	base := StartTransactionReq{ConnectorID: 1, IDTag: "TAG", MeterStart: 100}
	want := startKey(base, ts)
	if want != "1|TAG|2026-03-01T10:00:00Z|100" {
		t.Fatalf("startKey = %q; want the StartTransaction fields", want)
	}
	tests := []struct {
		name string
		m    StartTransactionReq
		ts   time.Time
		same bool
	}{
		{"retry", base, ts, true},
		{"same-instant-other-zone", base, ts.In(time.FixedZone("CET", 3600)), true},
		{"other-connector", StartTransactionReq{ConnectorID: 2, IDTag: "TAG", MeterStart: 100}, ts, false},
		{"other-tag", StartTransactionReq{ConnectorID: 1, IDTag: "TAG2", MeterStart: 100}, ts, false},
		{"other-meter-start", StartTransactionReq{ConnectorID: 1, IDTag: "TAG", MeterStart: 101}, ts, false},
		{"other-time", base, ts.Add(time.Millisecond), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := startKey(tt.m, tt.ts) == want; got != tt.same {
				t.Errorf("startKey(%+v) == startKey(base): got %v; want %v", tt.m, got, tt.same)
			}
		})
	}
}

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
		{"EmergencyStop", charging.SessionInterrupted, "EmergencyStop"},
		{"PowerLoss", charging.SessionInterrupted, "PowerLoss"},
		{"Reboot", charging.SessionInterrupted, "Reboot"},
		{"HardReset", charging.SessionInterrupted, "HardReset"},
		{"SoftReset", charging.SessionInterrupted, "SoftReset"},
		{"UnlockCommand", charging.SessionInterrupted, "UnlockCommand"},
		{"DeAuthorized", charging.SessionInterrupted, "DeAuthorized"},
		{"Other", charging.SessionInterrupted, "Other"},
		{"StoppedByEV", charging.SessionInterrupted, "StoppedByEV"}, // a 2.0.1 reason is unknown to 1.6
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
		shown  charging.ConnectorStatus // the API's derived status word
	}{
		{"Available", charging.Operative, charging.StateAvailable, charging.StatusAvailable},
		{"Preparing", charging.Operative, charging.StateOccupied, charging.StatusPreparing},
		{"Charging", charging.Operative, charging.StateCharging, charging.StatusCharging},
		{"SuspendedEV", charging.Operative, charging.StateSuspendedEV, charging.StatusSuspendedEV},
		{"SuspendedEVSE", charging.Operative, charging.StateSuspendedEVSE, charging.StatusSuspendedEVSE},
		{"Finishing", charging.Operative, charging.StateFinishing, charging.StatusFinishing},
		{"Reserved", charging.Operative, charging.StateReserved, charging.StatusReserved},
		{"Unavailable", charging.Inoperative, charging.StateAvailable, charging.StatusUnavailable},
		{"Faulted", charging.Inoperative, charging.StateFaulted, charging.StatusFaulted},
		{"Occupied", "", charging.StateUnknown, charging.StatusUnknown}, // a 2.0.1 word is unknown to 1.6
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			a, s := ConnectorSplit(tt.status)
			if a != tt.avail || s != tt.state {
				t.Fatalf("ConnectorSplit(%q) = %q, %q; want %q, %q", tt.status, a, s, tt.avail, tt.state)
			}
			if got := charging.StatusOf(a, s); got != tt.shown {
				t.Errorf("StatusOf(%q, %q) = %q; want %q (the word 1.6 sent)", a, s, got, tt.shown)
			}
		})
	}
}
