package ocpp201

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp16"
)

// Port is the command port of 2.0.1 stations: StartCharging and
// StopCharging are sent as RequestStartTransaction and
// RequestStopTransaction; the other commands answer
// charging.ErrNotSupported, clearly, rather than reaching a 2.0.1 station
// as a 1.6 message it cannot understand.
type Port struct {
	cmd *ocpp16.Commander
	svc *charging.Service
	now func() time.Time
}

var _ charging.Commands = Port{}

// NewPort returns the port; cmd is a Commander made with CSMSActions and
// the 2.0.1 validator.
func NewPort(cmd *ocpp16.Commander, svc *charging.Service, now func() time.Time) Port {
	return Port{cmd: cmd, svc: svc, now: now}
}

func (p Port) send(ctx context.Context, chargerID, action string, payload any, requestedBy string) (charging.CommandResult, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return charging.CommandResult{}, err
	}
	res, err := p.cmd.Send(ctx, chargerID, action, body, requestedBy)
	if err != nil {
		return charging.CommandResult{}, ocpp16.CoreError(err)
	}
	var conf struct{ Status string }
	_ = json.Unmarshal(res, &conf)
	st := charging.CommandRejected
	if conf.Status == "Accepted" {
		st = charging.CommandAccepted
	}
	return charging.CommandResult{Status: st, Answer: conf.Status}.Outcome()
}

// StartCharging sends RequestStartTransaction with a fresh remoteStartId.
func (p Port) StartCharging(ctx context.Context, r charging.StartCharging) (charging.CommandResult, error) {
	req := RequestStartTransactionReq{RemoteStartID: p.now().UnixMilli() % math.MaxInt32, IDToken: IDToken{IDToken: r.IDTag, Type: "Central"}}
	if r.ConnectorID > 0 {
		evse := r.ConnectorID
		req.EVSEID = &evse
	}
	return p.send(ctx, r.ChargerID, "RequestStartTransaction", req, r.RequestedBy)
}

// StopCharging sends RequestStopTransaction with the station's own
// transactionId of the session.
func (p Port) StopCharging(ctx context.Context, r charging.StopCharging) (charging.CommandResult, error) {
	s, err := p.svc.Store().GetSession(ctx, r.SessionID)
	if err != nil {
		return charging.CommandResult{}, fmt.Errorf("stop session %s: %w", r.SessionID, err)
	}
	if s.TransactionID == 0 || (s.Status != charging.SessionActive && s.Status != charging.SessionStopping) {
		return charging.CommandResult{}, fmt.Errorf("stop session %s: %w: the session is not charging (%s)", r.SessionID, charging.ErrConflict, s.Status)
	}
	docs, err := p.svc.Docs()
	if err != nil {
		return charging.CommandResult{}, fmt.Errorf("stop session %s: %w", r.SessionID, err)
	}
	list, _, err := docs.ListDocs(ctx, charging.DocQuery{Kind: DocKindTransaction, Owner: s.ChargerID, Newest: true, Limit: 1000})
	if err != nil {
		return charging.CommandResult{}, fmt.Errorf("stop session %s: %w", r.SessionID, err)
	}
	for _, d := range list {
		var st txState
		if json.Unmarshal(d.Body, &st) == nil && st.Tx == s.TransactionID {
			txID := strings.TrimPrefix(d.ID, s.ChargerID+"/")
			res, err := p.send(ctx, s.ChargerID, "RequestStopTransaction", RequestStopTransactionReq{TransactionID: txID}, r.RequestedBy)
			res.SessionID = s.ID
			return res, err
		}
	}
	return charging.CommandResult{}, fmt.Errorf("stop session %s: %w: no 2.0.1 transaction of %s is linked to it", r.SessionID, charging.ErrNotFound, s.ChargerID)
}

func notYet(what, chargerID string) (charging.CommandResult, error) {
	return charging.CommandResult{}, fmt.Errorf("%w: %s is not implemented for OCPP 2.0.1 stations yet (charger %s)", charging.ErrNotSupported, what, chargerID)
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
