package ocpp201

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp16"
)

// Port is the command port of 2.0.1 stations: each protocol-neutral
// command becomes its 2.0.1 message (RequestStartTransaction,
// RequestStopTransaction, ReserveNow, CancelReservation, UnlockConnector,
// Reset, ChangeAvailability, SetChargingProfile), sent through the
// Commander (validated both ways, logged, its effect applied by Effects),
// with the answers and errors mapped the way the 1.6 port maps 1.6's.
//
// A neutral connector number is the station's EVSE id (what the core
// addresses for 2.0.1 stations as for 1.6: RequestStartTransaction,
// ReserveNow, ChangeAvailability and SetChargingProfile carry it as
// evseId); UnlockConnector names the connector within the EVSE too
// (charging.Unlock.EVSEConnectorID, connector 1 when not given).
type Port struct {
	cmd *ocpp16.Commander
	svc *charging.Service
	now func() time.Time
}

var _ charging.Commands = Port{}

// NewPort returns the port; cmd is a Commander made with CSMSActions, the
// 2.0.1 validator and Effects.
func NewPort(cmd *ocpp16.Commander, svc *charging.Service, now func() time.Time) Port {
	return Port{cmd: cmd, svc: svc, now: now}
}

// statusOf maps a 2.0.1 answer's status word onto the core's.
func statusOf(action, answer string) charging.CommandStatus {
	switch answer {
	case "Accepted", "Unlocked":
		return charging.CommandAccepted
	case "Scheduled":
		return charging.CommandScheduled
	case "Occupied", "OngoingAuthorizedTransaction":
		return charging.CommandOccupied
	case "Faulted", "Unavailable":
		return charging.CommandInoperative
	case "UnlockFailed":
		return charging.CommandFailed
	case "UnknownConnector":
		return charging.CommandUnknown
	case "Rejected":
		if action == "CancelReservation" {
			// 2.0.1 rejects a cancel when it holds no such reservation (H02).
			return charging.CommandUnknown
		}
	}
	return charging.CommandRejected
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
	return charging.CommandResult{Status: statusOf(action, conf.Status), Answer: conf.Status}.Outcome()
}

// token is the IdToken of a core id tag: Central, as the CSMS issued it.
func token(tag string) IDToken { return IDToken{IDToken: tag, Type: "Central"} }

func evseOf(connectorID int) *int {
	if connectorID <= 0 {
		return nil
	}
	return &connectorID
}

// StartCharging sends RequestStartTransaction with a fresh remoteStartId;
// an accepted one names the pending session the core now holds (Effects).
func (p Port) StartCharging(ctx context.Context, r charging.StartCharging) (charging.CommandResult, error) {
	req := RequestStartTransactionReq{RemoteStartID: p.now().UnixMilli() % math.MaxInt32, IDToken: token(r.IDTag), EVSEID: evseOf(r.ConnectorID)}
	res, err := p.send(ctx, r.ChargerID, "RequestStartTransaction", req, r.RequestedBy)
	if err != nil {
		return res, err
	}
	if s, err := p.svc.RemoteStartSession(ctx, r.ChargerID, r.ConnectorID, r.IDTag); err == nil {
		res.SessionID = s.ID
	}
	return res, nil
}

// runningSession is the session of r that is charging, or ErrConflict.
func (p Port) runningSession(ctx context.Context, sessionID string) (charging.Session, string, error) {
	s, err := p.svc.Store().GetSession(ctx, sessionID)
	if err != nil {
		return s, "", err
	}
	if s.TransactionID == "" || (s.Status != charging.SessionActive && s.Status != charging.SessionStopping) {
		return s, "", fmt.Errorf("%w: the session is not charging (%s)", charging.ErrConflict, s.Status)
	}
	txID, err := stationTransaction(ctx, p.svc, s)
	return s, txID, err
}

// StopCharging sends RequestStopTransaction with the station's own
// transactionId of the session.
func (p Port) StopCharging(ctx context.Context, r charging.StopCharging) (charging.CommandResult, error) {
	s, txID, err := p.runningSession(ctx, r.SessionID)
	if err != nil {
		return charging.CommandResult{}, fmt.Errorf("stop session %s: %w", r.SessionID, err)
	}
	res, err := p.send(ctx, s.ChargerID, "RequestStopTransaction", RequestStopTransactionReq{TransactionID: txID}, r.RequestedBy)
	res.SessionID = s.ID
	return res, err
}

// Reserve sends ReserveNow (evseId when a connector is named, else any
// EVSE); an accepted one names the reserved session.
func (p Port) Reserve(ctx context.Context, r charging.Reserve) (charging.CommandResult, error) {
	req := ReserveNowReq{ID: r.ReservationID, ExpiryDateTime: r.ExpiresAt.UTC(), IDToken: token(r.IDTag), EVSEID: evseOf(r.ConnectorID)}
	if r.ParentIDTag != "" {
		g := token(r.ParentIDTag)
		req.GroupIDToken = &g
	}
	res, err := p.send(ctx, r.ChargerID, "ReserveNow", req, r.RequestedBy)
	if err != nil {
		return res, err
	}
	s, err := p.svc.FindSession(ctx, r.ChargerID, charging.SessionReserved, func(s charging.Session) bool {
		return s.ReservationID != nil && *s.ReservationID == r.ReservationID
	})
	if err != nil {
		return res, fmt.Errorf("reservation %d accepted by %s but not recorded: %w", r.ReservationID, r.ChargerID, err)
	}
	res.SessionID = s.ID
	return res, nil
}

// CancelReservation sends CancelReservation; Rejected means the station
// holds no such reservation (CommandUnknown, as 1.6).
func (p Port) CancelReservation(ctx context.Context, r charging.CancelReservation) (charging.CommandResult, error) {
	return p.send(ctx, r.ChargerID, "CancelReservation", CancelReservationReq{ReservationID: r.ReservationID}, r.RequestedBy)
}

// Unlock sends UnlockConnector for the EVSE's connector r.EVSEConnectorID
// (connector 1 when not given).
func (p Port) Unlock(ctx context.Context, r charging.Unlock) (charging.CommandResult, error) {
	if r.ConnectorID < 1 {
		return charging.CommandResult{}, fmt.Errorf("%w: unlock needs a connector (1 or more)", charging.ErrInvalidInput)
	}
	return p.send(ctx, r.ChargerID, "UnlockConnector", UnlockConnectorReq{EVSEID: r.ConnectorID,
		ConnectorID: charging.DefaultEVSEConnector(r.ConnectorID, r.EVSEConnectorID)}, r.RequestedBy)
}

// Reset sends Reset: Immediate for a hard reset, OnIdle (after the
// transactions end) for a soft one.
func (p Port) Reset(ctx context.Context, r charging.Reset) (charging.CommandResult, error) {
	kind := "OnIdle"
	if r.Hard {
		kind = "Immediate"
	}
	return p.send(ctx, r.ChargerID, "Reset", ResetReq{Type: kind}, r.RequestedBy)
}

// ChangeAvailability sends ChangeAvailability: the whole station for
// connector 0, else the EVSE.
func (p Port) ChangeAvailability(ctx context.Context, r charging.ChangeAvailability) (charging.CommandResult, error) {
	if r.ConnectorID < 0 {
		return charging.CommandResult{}, fmt.Errorf("%w: connector %d", charging.ErrInvalidInput, r.ConnectorID)
	}
	req := ChangeAvailabilityReq{OperationalStatus: "Inoperative"}
	if r.Operative {
		req.OperationalStatus = "Operative"
	}
	if r.ConnectorID > 0 {
		req.EVSE = &EVSE{ID: r.ConnectorID}
	}
	return p.send(ctx, r.ChargerID, "ChangeAvailability", req, r.RequestedBy)
}

// Profile ids the port uses when the caller names none: one TxProfile and
// one TxDefaultProfile per EVSE (the same numbers as 1.6), so each new
// limit replaces the last.
const (
	txProfileBase        = 1000
	txDefaultProfileBase = 2000
)

// SetChargingLimit sends SetChargingProfile: a TxProfile for the EVSE's
// running transaction (with the station's transactionId), or a
// TxDefaultProfile for transactions that start later (evseId 0: every
// EVSE), with one relative schedule period holding the limit.
func (p Port) SetChargingLimit(ctx context.Context, r charging.ChargingLimit) (charging.CommandResult, error) {
	if err := r.Validate(); err != nil {
		return charging.CommandResult{}, err
	}
	period := ChargingSchedulePeriod{StartPeriod: 0, Limit: r.Limit}
	if r.Phases > 0 {
		n := r.Phases
		period.NumberPhases = &n
	}
	profile := ChargingProfile{StackLevel: r.StackLevel, ChargingProfileKind: "Relative",
		ChargingSchedule: []ChargingSchedule{{ID: 1, ChargingRateUnit: string(r.Unit), ChargingSchedulePeriod: []ChargingSchedulePeriod{period}}}}
	if !r.Until.IsZero() {
		u := r.Until.UTC()
		profile.ValidTo = &u
	}
	id := r.ProfileID
	var sessionID string
	switch r.Purpose {
	case charging.LimitTransaction:
		s, err := p.svc.FindSession(ctx, r.ChargerID, charging.SessionActive, func(s charging.Session) bool {
			return s.ConnectorID == r.ConnectorID && s.TransactionID != ""
		})
		if err != nil {
			return charging.CommandResult{}, fmt.Errorf("limit connector %d of %s: %w: no running transaction", r.ConnectorID, r.ChargerID, charging.ErrConflict)
		}
		txID, err := stationTransaction(ctx, p.svc, s)
		if err != nil {
			return charging.CommandResult{}, fmt.Errorf("limit connector %d of %s: %w", r.ConnectorID, r.ChargerID, err)
		}
		profile.ChargingProfilePurpose, profile.TransactionID, sessionID = "TxProfile", txID, s.ID
		if id == 0 {
			id = txProfileBase + r.ConnectorID
		}
	default:
		profile.ChargingProfilePurpose = "TxDefaultProfile"
		if id == 0 {
			id = txDefaultProfileBase + r.ConnectorID
		}
	}
	profile.ID = id
	res, err := p.send(ctx, r.ChargerID, "SetChargingProfile", SetChargingProfileReq{EVSEID: r.ConnectorID, ChargingProfile: profile}, r.RequestedBy)
	res.SessionID = sessionID
	return res, err
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
