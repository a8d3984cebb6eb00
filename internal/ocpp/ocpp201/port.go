package ocpp201

import (
	"context"
	"fmt"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// Port is the command port of 2.0.1 stations. The 2.0.1 commands
// (RequestStartTransaction, RequestStopTransaction, …) are not sent yet:
// every command answers charging.ErrNotSupported, clearly, rather than
// reaching a 2.0.1 station as a 1.6 message it cannot understand.
type Port struct{}

var _ charging.Commands = Port{}

func notYet(what, chargerID string) (charging.CommandResult, error) {
	return charging.CommandResult{}, fmt.Errorf("%w: %s is not implemented for OCPP 2.0.1 stations yet (charger %s)", charging.ErrNotSupported, what, chargerID)
}

// StartCharging is not supported yet.
func (Port) StartCharging(_ context.Context, r charging.StartCharging) (charging.CommandResult, error) {
	return notYet("remote start", r.ChargerID)
}

// StopCharging is not supported yet.
func (Port) StopCharging(_ context.Context, r charging.StopCharging) (charging.CommandResult, error) {
	return notYet("remote stop", "of session "+r.SessionID)
}

// Reserve is not supported yet.
func (Port) Reserve(_ context.Context, r charging.Reserve) (charging.CommandResult, error) {
	return notYet("reservation", r.ChargerID)
}

// CancelReservation is not supported yet.
func (Port) CancelReservation(_ context.Context, r charging.CancelReservation) (charging.CommandResult, error) {
	return notYet("cancel reservation", r.ChargerID)
}

// Unlock is not supported yet.
func (Port) Unlock(_ context.Context, r charging.Unlock) (charging.CommandResult, error) {
	return notYet("unlock", r.ChargerID)
}

// Reset is not supported yet.
func (Port) Reset(_ context.Context, r charging.Reset) (charging.CommandResult, error) {
	return notYet("reset", r.ChargerID)
}

// ChangeAvailability is not supported yet.
func (Port) ChangeAvailability(_ context.Context, r charging.ChangeAvailability) (charging.CommandResult, error) {
	return notYet("change availability", r.ChargerID)
}

// SetChargingLimit is not supported yet.
func (Port) SetChargingLimit(_ context.Context, r charging.ChargingLimit) (charging.CommandResult, error) {
	return notYet("charging limit", r.ChargerID)
}

// CSMSActions are the messages the CSMS sends to a charging station in
// OCPP 2.0.1, all available through the raw per-action command endpoint.
var CSMSActions = []string{
	"CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache", "ClearChargingProfile",
	"ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated", "CustomerInformation", "DataTransfer",
	"DeleteCertificate", "GetBaseReport", "GetChargingProfiles", "GetCompositeSchedule", "GetDisplayMessages",
	"GetInstalledCertificateIds", "GetLocalListVersion", "GetLog", "GetMonitoringReport", "GetReport",
	"GetTransactionStatus", "GetVariables", "InstallCertificate", "PublishFirmware", "RequestStartTransaction",
	"RequestStopTransaction", "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile", "SetDisplayMessage",
	"SetMonitoringBase", "SetMonitoringLevel", "SetNetworkProfile", "SetVariableMonitoring", "SetVariables",
	"TriggerMessage", "UnlockConnector", "UnpublishFirmware", "UpdateFirmware",
}
