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
