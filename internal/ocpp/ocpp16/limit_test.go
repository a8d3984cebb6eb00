package ocpp16

import (
	"encoding/json"
	"testing"
)

func TestLimitProfile(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		conn   int
		tx     int64
		limitW float64
		caps   limitCaps
		want   string
	}{
		{"tx-profile-in-amperes-rounded-down", 1, 42, 7333, limitCaps{unit: "A", stack: 1},
			`{"connectorId":1,"csChargingProfiles":{"chargingProfileId":1700000002,"transactionId":42,"stackLevel":1,"chargingProfilePurpose":"TxProfile","chargingProfileKind":"Relative","chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":10.6,"numberPhases":3}]}}}`},
		{"default-profile-in-watts", 2, 0, 11000.9, limitCaps{unit: "W", stack: 3},
			`{"connectorId":2,"csChargingProfiles":{"chargingProfileId":1700000005,"stackLevel":3,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Relative","chargingSchedule":{"chargingRateUnit":"W","chargingSchedulePeriod":[{"startPeriod":0,"limit":11000,"numberPhases":3}]}}}`},
		{"pause", 1, 7, 0, limitCaps{unit: "A", stack: 1},
			`{"connectorId":1,"csChargingProfiles":{"chargingProfileId":1700000002,"transactionId":7,"stackLevel":1,"chargingProfilePurpose":"TxProfile","chargingProfileKind":"Relative","chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":0.0,"numberPhases":3}]}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(limitProfile(tt.conn, tt.tx, tt.limitW, 3, tt.caps))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got %s; want %s", b, tt.want)
			}
			if e := v.Validate("SetChargingProfile", b); e != nil {
				t.Errorf("not a valid SetChargingProfile: %s", e.Description)
			}
		})
	}
}

func TestRateUnit(t *testing.T) {
	for in, want := range map[string]string{"Current": "A", "Current,Power": "W", " power ": "W", "": "A", "Watts": "A"} {
		if got := rateUnit(in); got != want {
			t.Errorf("rateUnit(%q) = %s; want %s", in, got, want)
		}
	}
}
