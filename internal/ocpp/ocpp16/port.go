package ocpp16

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// Port is the 1.6 adapter of the core's command port: it turns each
// protocol-neutral command into its OCPP 1.6 message, sends it through the
// Commander (validated, logged, its effect applied in the core) and maps
// the answer and the errors back into core terms.
type Port struct {
	cmd *Commander
	svc *charging.Service
}

var _ charging.Commands = (*Port)(nil)

// NewPort returns the 1.6 command port over a Commander; svc finds the
// sessions commands refer to and create.
func NewPort(cmd *Commander, svc *charging.Service) *Port { return &Port{cmd: cmd, svc: svc} }

// statusOf maps a 1.6 answer's status word onto the core's.
func statusOf(action, answer string) charging.CommandStatus {
	switch answer {
	case "Accepted", "Unlocked":
		return charging.CommandAccepted
	case "Scheduled":
		return charging.CommandScheduled
	case "Occupied":
		return charging.CommandOccupied
	case "Faulted", "Unavailable":
		return charging.CommandInoperative
	case "UnlockFailed":
		return charging.CommandFailed
	case "NotSupported":
		return charging.CommandUnsupported
	case "Rejected":
		if action == "CancelReservation" {
			// 1.6 rejects a cancel when it holds no such reservation.
			return charging.CommandUnknown
		}
	}
	return charging.CommandRejected
}

// CoreError wraps a command path error with the core sentinel it means,
// keeping the original for logs.
func CoreError(err error) error {
	var oe *ocpp.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &oe):
		return fmt.Errorf("%w (%w)", &charging.ChargerError{Code: string(oe.Code), Description: oe.Description}, err)
	case errors.Is(err, ocpp.ErrNotConnected), errors.Is(err, ocpp.ErrClosed):
		return fmt.Errorf("%w: %w", charging.ErrNotConnected, err)
	case errors.Is(err, ocpp.ErrCallTimeout), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", charging.ErrTimeout, err)
	case errors.Is(err, ErrInvalidCommand):
		return fmt.Errorf("%w: %w", charging.ErrInvalidInput, err)
	case errors.Is(err, ErrInvalidAnswer):
		return fmt.Errorf("%w: %w", charging.ErrInvalidAnswer, err)
	case errors.Is(err, ErrUnknownCommand):
		return fmt.Errorf("%w: %w", charging.ErrNotFound, err)
	}
	return err
}

// send sends one message and maps its answer.
func (p *Port) send(ctx context.Context, chargerID, action string, payload any, requestedBy string) (charging.CommandResult, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return charging.CommandResult{}, err
	}
	res, err := p.cmd.Send(ctx, chargerID, action, body, requestedBy)
	if err != nil {
		return charging.CommandResult{}, CoreError(err)
	}
	var conf statusConf
	_ = json.Unmarshal(res, &conf)
	return charging.CommandResult{Status: statusOf(action, conf.Status), Answer: conf.Status}.Outcome()
}

// StartCharging sends RemoteStartTransaction; an accepted one names the
// pending session the core now holds.
func (p *Port) StartCharging(ctx context.Context, r charging.StartCharging) (charging.CommandResult, error) {
	pl := map[string]any{"idTag": r.IDTag}
	if r.ConnectorID > 0 {
		pl["connectorId"] = r.ConnectorID
	}
	res, err := p.send(ctx, r.ChargerID, "RemoteStartTransaction", pl, r.RequestedBy)
	if err != nil {
		return res, err
	}
	if s, err := p.svc.RemoteStartSession(ctx, r.ChargerID, r.ConnectorID, r.IDTag); err == nil {
		res.SessionID = s.ID
	}
	return res, nil
}

// StopCharging sends RemoteStopTransaction for a running session.
func (p *Port) StopCharging(ctx context.Context, r charging.StopCharging) (charging.CommandResult, error) {
	s, err := p.svc.Store().GetSession(ctx, r.SessionID)
	if err != nil {
		return charging.CommandResult{}, fmt.Errorf("stop session %s: %w", r.SessionID, err)
	}
	if s.TransactionID == "" || (s.Status != charging.SessionActive && s.Status != charging.SessionStopping) {
		return charging.CommandResult{}, fmt.Errorf("stop session %s: %w: the session is not charging (%s)", r.SessionID, charging.ErrConflict, s.Status)
	}
	tx, err := WireTransactionID(s.TransactionID)
	if err != nil {
		return charging.CommandResult{}, fmt.Errorf("stop session %s: %w", r.SessionID, err)
	}
	res, err := p.send(ctx, s.ChargerID, "RemoteStopTransaction", map[string]any{"transactionId": tx}, r.RequestedBy)
	res.SessionID = s.ID
	return res, err
}

// Reserve sends ReserveNow; an accepted one names the reserved session.
func (p *Port) Reserve(ctx context.Context, r charging.Reserve) (charging.CommandResult, error) {
	pl := map[string]any{"connectorId": r.ConnectorID, "expiryDate": r.ExpiresAt.UTC().Format(time.RFC3339),
		"idTag": r.IDTag, "reservationId": r.ReservationID}
	if r.ParentIDTag != "" {
		pl["parentIdTag"] = r.ParentIDTag
	}
	res, err := p.send(ctx, r.ChargerID, "ReserveNow", pl, r.RequestedBy)
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

// CancelReservation sends CancelReservation.
func (p *Port) CancelReservation(ctx context.Context, r charging.CancelReservation) (charging.CommandResult, error) {
	return p.send(ctx, r.ChargerID, "CancelReservation", map[string]any{"reservationId": r.ReservationID}, r.RequestedBy)
}

// Unlock sends UnlockConnector.
func (p *Port) Unlock(ctx context.Context, r charging.Unlock) (charging.CommandResult, error) {
	if r.ConnectorID < 1 {
		return charging.CommandResult{}, fmt.Errorf("%w: unlock needs a connector (1 or more)", charging.ErrInvalidInput)
	}
	if r.EVSEConnectorID > 1 {
		return charging.CommandResult{}, fmt.Errorf("%w: a 1.6 connector is the only connector of its EVSE (evse_connector_id %d)", charging.ErrInvalidInput, r.EVSEConnectorID)
	}
	return p.send(ctx, r.ChargerID, "UnlockConnector", map[string]any{"connectorId": r.ConnectorID}, r.RequestedBy)
}

// Reset sends Reset (Hard or Soft).
func (p *Port) Reset(ctx context.Context, r charging.Reset) (charging.CommandResult, error) {
	kind := "Soft"
	if r.Hard {
		kind = "Hard"
	}
	return p.send(ctx, r.ChargerID, "Reset", map[string]any{"type": kind}, r.RequestedBy)
}

// ChangeAvailability sends ChangeAvailability (Operative or Inoperative).
func (p *Port) ChangeAvailability(ctx context.Context, r charging.ChangeAvailability) (charging.CommandResult, error) {
	kind := "Inoperative"
	if r.Operative {
		kind = "Operative"
	}
	return p.send(ctx, r.ChargerID, "ChangeAvailability", map[string]any{"connectorId": r.ConnectorID, "type": kind}, r.RequestedBy)
}

// Profile ids the port uses when the caller names none: one TxProfile and
// one TxDefaultProfile per connector, so each new limit replaces the last.
const (
	txProfileBase        = 1000
	txDefaultProfileBase = 2000
)

// SetChargingLimit sends SetChargingProfile: a TxProfile for the
// connector's running transaction, or a TxDefaultProfile for transactions
// that start later, with one schedule period holding the limit.
func (p *Port) SetChargingLimit(ctx context.Context, r charging.ChargingLimit) (charging.CommandResult, error) {
	if err := r.Validate(); err != nil {
		return charging.CommandResult{}, err
	}
	period := map[string]any{"startPeriod": 0, "limit": r.Limit}
	if r.Phases > 0 {
		period["numberPhases"] = r.Phases
	}
	profile := map[string]any{
		"stackLevel":          r.StackLevel,
		"chargingProfileKind": "Relative",
		"chargingSchedule":    map[string]any{"chargingRateUnit": string(r.Unit), "chargingSchedulePeriod": []any{period}},
	}
	if !r.Until.IsZero() {
		profile["validTo"] = r.Until.UTC().Format(time.RFC3339)
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
		profile["chargingProfilePurpose"] = "TxProfile"
		tx, err := WireTransactionID(s.TransactionID)
		if err != nil {
			return charging.CommandResult{}, fmt.Errorf("limit connector %d of %s: %w", r.ConnectorID, r.ChargerID, err)
		}
		profile["transactionId"] = tx
		sessionID = s.ID
		if id == 0 {
			id = txProfileBase + r.ConnectorID
		}
	default:
		profile["chargingProfilePurpose"] = "TxDefaultProfile"
		if id == 0 {
			id = txDefaultProfileBase + r.ConnectorID
		}
	}
	profile["chargingProfileId"] = id
	res, err := p.send(ctx, r.ChargerID, "SetChargingProfile", map[string]any{"connectorId": r.ConnectorID, "csChargingProfiles": profile}, r.RequestedBy)
	res.SessionID = sessionID
	return res, err
}

// CoreErrors is the Commander seen from the edges: raw OCPP 1.6 messages
// for experts, with errors in core terms (see CoreError).
type CoreErrors struct{ *Commander }

// Send sends a raw message; see Commander.Send.
func (c CoreErrors) Send(ctx context.Context, chargerID, action string, payload json.RawMessage, requestedBy string) (json.RawMessage, error) {
	res, err := c.Commander.Send(ctx, chargerID, action, payload, requestedBy)
	return res, CoreError(err)
}
