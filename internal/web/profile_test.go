package web

import "testing"

// TestProfileOf: the charger page reads the profiles a 1.6 charger and a
// 2.0.1 station accepted, each in its protocol's shape.
func TestProfileOf(t *testing.T) {
	for body, want := range map[string]profileRow{
		`{"connectorId":1,"csChargingProfiles":{"chargingProfileId":1001,"transactionId":42,"stackLevel":1,"chargingProfilePurpose":"TxProfile","chargingProfileKind":"Relative","chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16}]}}}`: {ConnectorID: 1, ID: 1001, Purpose: "TxProfile", Kind: "Relative", StackLevel: 1, Transaction: "42", Limits: "16 A from 0s"},
		`{"evseId":2,"chargingProfile":{"id":1700000004,"transactionId":"TX-9","stackLevel":3,"chargingProfilePurpose":"TxProfile","chargingProfileKind":"Relative","chargingSchedule":[{"id":1,"chargingRateUnit":"W","chargingSchedulePeriod":[{"startPeriod":0,"limit":7000}]}]}}`:   {ConnectorID: 2, ID: 1700000004, Purpose: "TxProfile", Kind: "Relative", StackLevel: 3, Transaction: "TX-9", Limits: "7000 W from 0s", LoadMgmt: true},
		`{"evseId":0,"chargingProfile":{"id":2000,"stackLevel":0,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Relative","chargingSchedule":[{"id":1,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16}]}]}}`:                           {ID: 2000, Purpose: "TxDefaultProfile", Kind: "Relative", Limits: "16 A from 0s"},
	} {
		got, ok := profileOf([]byte(body))
		if !ok || got != want {
			t.Errorf("profileOf(%s) = %+v, %v; want %+v", body, got, ok, want)
		}
	}
	if _, ok := profileOf([]byte(`{"x":1}`)); ok {
		t.Error("a body of neither shape was read as a profile")
	}
}
