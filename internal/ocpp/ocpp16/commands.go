package ocpp16

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// CentralSystemActions are the messages the central system sends to a
// charge point: OCPP 1.6 core, firmware, local list, reservation, smart
// charging and remote trigger profiles, and the security extension.
var CentralSystemActions = []string{
	"CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
	"ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "GetConfiguration",
	"GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction", "RemoteStopTransaction",
	"ReserveNow", "Reset", "SendLocalList", "SetChargingProfile", "TriggerMessage",
	"UnlockConnector", "UpdateFirmware",
	"CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage", "GetInstalledCertificateIds",
	"GetLog", "InstallCertificate", "SignedUpdateFirmware",
}

// Command errors, mapped to HTTP statuses and CLI messages at the edges.
var (
	// ErrUnknownCommand: the action is not one the central system sends.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrInvalidCommand: the request does not match the action's schema.
	ErrInvalidCommand = errors.New("invalid command")
	// ErrInvalidAnswer: the charger's answer does not match the schema.
	ErrInvalidAnswer = errors.New("charger answered with an invalid payload")
)

// CommandRecord is one entry of a charger's command log. Outcome is
// "answered", "call_error", "timeout", "not_connected", "invalid_request",
// "invalid_answer" or "failed".
type CommandRecord = charging.CommandRecord

// CommandLog keeps command records.
type CommandLog interface {
	RecordCommand(ctx context.Context, r CommandRecord) error
}

// Effects is told of every answered command, to carry its meaning into
// the session core (a reservation held, a session pending, a profile set).
type Effects interface {
	CommandAnswered(ctx context.Context, chargerID, action string, request, response json.RawMessage) error
}

// Caller sends a CALL to a connected charger.
type Caller interface {
	Call(ctx context.Context, chargerID, action string, payload []byte) (json.RawMessage, error)
}

// Commander is the one path every remote action takes to a charger: the
// operator API and CLI, OCPI commands, Beckn orders and the dashboard.
type Commander struct {
	caller  Caller
	v       *ocpp.Validator
	log     *slog.Logger
	cmdLog  CommandLog
	effects Effects
	now     func() time.Time
	newID   func() string
	known   map[string]bool
	actions []string
}

// NewCommander returns a Commander. cmdLog and effects may be nil.
func NewCommander(caller Caller, v *ocpp.Validator, log *slog.Logger, cmdLog CommandLog, effects Effects, now func() time.Time, newID func() string) *Commander {
	return NewCommanderFor(CentralSystemActions, caller, v, log, cmdLog, effects, now, newID)
}

// NewCommanderFor is NewCommander for another OCPP version's actions and
// validator (2.0.1 uses it: the path of a command is the same).
func NewCommanderFor(actions []string, caller Caller, v *ocpp.Validator, log *slog.Logger, cmdLog CommandLog, effects Effects, now func() time.Time, newID func() string) *Commander {
	known := make(map[string]bool, len(actions))
	for _, a := range actions {
		known[a] = true
	}
	return &Commander{caller: caller, v: v, log: log, cmdLog: cmdLog, effects: effects, now: now, newID: newID, known: known, actions: actions}
}

// Send validates a command, sends it, validates the answer, records it in
// the command log and applies its effect. A CALLERROR comes back as an
// *ocpp.Error; a charger that is not connected as ocpp.ErrNotConnected, at
// once.
func (c *Commander) Send(ctx context.Context, chargerID, action string, payload json.RawMessage, requestedBy string) (json.RawMessage, error) {
	if !c.known[action] {
		return nil, fmt.Errorf("%w %q; use one of %v", ErrUnknownCommand, action, c.actions)
	}
	rec := CommandRecord{ID: c.newID(), ChargerID: chargerID, Action: action, RequestedBy: requestedBy, Request: charging.RawJSON(payload), SentAt: c.now()}
	res, err := c.send(ctx, chargerID, action, payload, &rec)
	if !rec.AnsweredAt.IsZero() {
		rec.DurationMS = float64(rec.AnsweredAt.Sub(rec.SentAt).Microseconds()) / 1000
	}
	if c.cmdLog != nil {
		// Recorded even when the context was cancelled: the log must show
		// what was sent.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if lerr := c.cmdLog.RecordCommand(lctx, rec); lerr != nil {
			c.log.Error("command not recorded", "charger", chargerID, "action", action, "err", lerr)
		}
		cancel()
	}
	return res, err
}

func (c *Commander) send(ctx context.Context, chargerID, action string, payload json.RawMessage, rec *CommandRecord) (json.RawMessage, error) {
	if e := c.v.Validate(action, payload); e != nil {
		rec.Outcome, rec.Error = "invalid_request", e.Description
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalidCommand, action, e.Description)
	}
	res, err := c.caller.Call(ctx, chargerID, action, payload)
	var oe *ocpp.Error
	switch {
	case errors.Is(err, ocpp.ErrNotConnected):
		rec.Outcome, rec.Error = "not_connected", err.Error()
		return nil, err
	case errors.Is(err, ocpp.ErrCallTimeout):
		rec.Outcome, rec.Error = "timeout", err.Error()
		return nil, err
	case errors.As(err, &oe):
		rec.AnsweredAt = c.now()
		rec.Outcome, rec.Error, rec.ErrorCode = "call_error", oe.Description, string(oe.Code)
		return nil, err
	case err != nil:
		rec.Outcome, rec.Error = "failed", err.Error()
		return nil, err
	}
	rec.AnsweredAt = c.now()
	rec.Response = charging.RawJSON(res)
	if e := c.v.Validate(action+"Response", res); e != nil {
		rec.Outcome, rec.Error = "invalid_answer", e.Description
		c.log.Warn("charger answered a command with an invalid payload", "charger", chargerID, "action", action, "reason", e.Description)
		return res, fmt.Errorf("%w: %s: %s", ErrInvalidAnswer, action, e.Description)
	}
	rec.Outcome = "answered"
	if c.effects != nil {
		if err := c.effects.CommandAnswered(ctx, chargerID, action, payload, res); err != nil {
			c.log.Error("command effect not applied", "charger", chargerID, "action", action, "err", err)
		}
	}
	return res, nil
}
