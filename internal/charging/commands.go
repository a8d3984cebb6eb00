package charging

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Commands is the core's command port: what the operator API, the CLI, the
// dashboard, OCPI, Beckn and load management ask of a charger, in
// protocol-neutral terms. Each OCPP version's adapter implements it (the
// 1.6 one builds RemoteStartTransaction, ReserveNow, …); CommandRouter picks
// the adapter that speaks the charger's protocol.
//
// A method returns a nil error only when the charger accepted the command
// (the Result says how: accepted or scheduled). Otherwise the error says
// why, and errors.Is matches one of the sentinels below: ErrNotConnected,
// ErrTimeout, ErrRejected (with a *Rejection carrying the charger's
// answer), ErrNotSupported, ErrChargerError (a CALLERROR, as a
// *ChargerError), ErrInvalidAnswer, ErrInvalidInput, ErrNotFound,
// ErrConflict.
type Commands interface {
	StartCharging(ctx context.Context, r StartCharging) (CommandResult, error)
	StopCharging(ctx context.Context, r StopCharging) (CommandResult, error)
	Reserve(ctx context.Context, r Reserve) (CommandResult, error)
	CancelReservation(ctx context.Context, r CancelReservation) (CommandResult, error)
	Unlock(ctx context.Context, r Unlock) (CommandResult, error)
	Reset(ctx context.Context, r Reset) (CommandResult, error)
	ChangeAvailability(ctx context.Context, r ChangeAvailability) (CommandResult, error)
	SetChargingLimit(ctx context.Context, r ChargingLimit) (CommandResult, error)
}

// Command errors. Each edge (HTTP, OCPI, Beckn) maps them to its own codes
// in one table, tested to cover every one of them.
var (
	// ErrNotConnected: the charger has no connection to this server.
	ErrNotConnected = errors.New("charger is not connected")
	// ErrTimeout: the charger did not answer in time.
	ErrTimeout = errors.New("charger did not answer in time")
	// ErrRejected: the charger answered, and did not accept.
	ErrRejected = errors.New("charger did not accept the command")
	// ErrChargerError: the charger answered with a protocol error.
	ErrChargerError = errors.New("charger answered with an error")
	// ErrInvalidAnswer: the charger's answer does not match the protocol.
	ErrInvalidAnswer = errors.New("charger answered with an invalid payload")
)

// CommandErrors lists every error a Commands method may return, for the
// edges' mapping tables and their tests.
var CommandErrors = []error{
	ErrNotConnected, ErrTimeout, ErrRejected, ErrChargerError, ErrInvalidAnswer,
	ErrNotSupported, ErrInvalidInput, ErrNotFound, ErrConflict,
}

// CommandStatus is a charger's answer in core terms.
type CommandStatus string

// Command statuses. Each adapter maps its protocol's answers onto these.
const (
	CommandAccepted    CommandStatus = "accepted"
	CommandScheduled   CommandStatus = "scheduled" // accepted, applied when the connector is free
	CommandRejected    CommandStatus = "rejected"
	CommandOccupied    CommandStatus = "occupied"    // the connector is in use
	CommandInoperative CommandStatus = "inoperative" // faulted or unavailable
	CommandFailed      CommandStatus = "failed"      // tried and failed (e.g. unlock)
	CommandUnsupported CommandStatus = "not_supported"
	CommandUnknown     CommandStatus = "unknown" // e.g. no such reservation
)

// Took reports whether the status means the charger took the command.
func (s CommandStatus) Took() bool { return s == CommandAccepted || s == CommandScheduled }

// CommandResult is what a charger answered, and the session the command
// created or touched, when there is one.
type CommandResult struct {
	Status CommandStatus `json:"status"`
	// Answer is the charger's own status word (e.g. "Occupied"), for logs
	// and operators.
	Answer    string `json:"answer,omitempty"`
	SessionID string `json:"session_id,omitempty"`
}

// Rejection is the error for an answer that is not an acceptance.
type Rejection struct {
	Result CommandResult
}

func (r *Rejection) Error() string {
	return fmt.Sprintf("charger answered %s", r.Result.Answer)
}

// Is makes a Rejection match ErrRejected, and ErrNotSupported when the
// charger says it does not support the command.
func (r *Rejection) Is(target error) bool {
	return target == ErrRejected || (target == ErrNotSupported && r.Result.Status == CommandUnsupported)
}

// ChargerError is a protocol error (OCPP CALLERROR) the charger answered.
type ChargerError struct {
	Code        string
	Description string
}

func (e *ChargerError) Error() string {
	return fmt.Sprintf("charger answered %s: %s", e.Code, e.Description)
}

// Is makes a ChargerError match ErrChargerError, and ErrNotSupported for
// the codes that mean the charger does not implement the message.
func (e *ChargerError) Is(target error) bool {
	return target == ErrChargerError || (target == ErrNotSupported && (e.Code == "NotSupported" || e.Code == "NotImplemented"))
}

// Outcome turns a result into the error a Commands method returns: nil
// when the charger took the command, a *Rejection otherwise.
func (r CommandResult) Outcome() (CommandResult, error) {
	if r.Status.Took() {
		return r, nil
	}
	return r, &Rejection{Result: r}
}

// StartCharging asks a charger to start a session for an id tag (remote
// start) on EVSE ConnectorID (2.0.1 starts on an EVSE, whichever of its
// connectors the driver plugs in). ConnectorID 0 lets the charger choose.
type StartCharging struct {
	ChargerID   string
	ConnectorID int
	IDTag       string
	RequestedBy string
}

// StopCharging asks the charger of a running session to stop it.
type StopCharging struct {
	SessionID   string
	RequestedBy string
}

// Reserve holds a connector for an id tag until ExpiresAt. ConnectorID 0
// reserves any connector, when the charger supports it.
type Reserve struct {
	ChargerID     string
	ConnectorID   int
	IDTag         string
	ParentIDTag   string
	ReservationID int64
	ExpiresAt     time.Time
	RequestedBy   string
}

// CancelReservation gives a reservation up.
type CancelReservation struct {
	ChargerID     string
	ReservationID int64
	RequestedBy   string
}

// Unlock releases a connector's cable: connector EVSEConnectorID of EVSE
// ConnectorID (DefaultEVSEConnector when 0; a 1.6 charger has one per
// EVSE).
type Unlock struct {
	ChargerID       string
	ConnectorID     int
	EVSEConnectorID int
	RequestedBy     string
}

// Reset restarts a charger: Hard reboots at once, soft after sessions end.
type Reset struct {
	ChargerID   string
	Hard        bool
	RequestedBy string
}

// ChangeAvailability makes a connector (0: the whole charger) operative or
// inoperative.
type ChangeAvailability struct {
	ChargerID   string
	ConnectorID int
	Operative   bool
	RequestedBy string
}

// LimitPurpose says what a charging limit applies to.
type LimitPurpose string

// Limit purposes.
const (
	// LimitTransaction limits the running transaction on the connector.
	LimitTransaction LimitPurpose = "transaction"
	// LimitDefault limits transactions that start on the connector (0: on
	// every connector).
	LimitDefault LimitPurpose = "default"
)

// LimitUnit is a charging limit's unit.
type LimitUnit string

// Limit units.
const (
	LimitWatts LimitUnit = "W"
	LimitAmps  LimitUnit = "A"
)

// ChargingLimit caps a connector's charging power or current.
type ChargingLimit struct {
	ChargerID   string
	ConnectorID int
	Purpose     LimitPurpose
	Limit       float64
	Unit        LimitUnit
	// Phases is the number of phases the limit assumes (0: the charger's
	// default).
	Phases int
	// ProfileID and StackLevel identify the limit on the charger, so a
	// later limit with the same id replaces it.
	ProfileID  int
	StackLevel int
	// Until ends the limit (zero: no end).
	Until       time.Time
	RequestedBy string
}

// Validate reports what is wrong with a limit, as ErrInvalidInput.
func (l ChargingLimit) Validate() error {
	switch {
	case l.ChargerID == "":
		return fmt.Errorf("%w: charging limit without a charger", ErrInvalidInput)
	case l.Purpose != LimitTransaction && l.Purpose != LimitDefault:
		return fmt.Errorf("%w: charging limit purpose %q: use %q or %q", ErrInvalidInput, l.Purpose, LimitTransaction, LimitDefault)
	case l.Unit != LimitWatts && l.Unit != LimitAmps:
		return fmt.Errorf("%w: charging limit unit %q: use W or A", ErrInvalidInput, l.Unit)
	case l.Limit < 0:
		return fmt.Errorf("%w: charging limit %v is negative", ErrInvalidInput, l.Limit)
	case l.ConnectorID < 0:
		return fmt.Errorf("%w: connector %d", ErrInvalidInput, l.ConnectorID)
	}
	return nil
}

// CommandRouter implements Commands by handing each command to the adapter
// that speaks the charger's protocol, so callers never know which version
// a charger runs.
type CommandRouter struct {
	protocol func(chargerID string) string
	adapters map[string]Commands
	fallback Commands
	sessions SessionStore
}

var _ Commands = (*CommandRouter)(nil)

// NewCommandRouter returns a router. protocol names the protocol a
// connected charger negotiated ("" when it is not connected); adapters maps
// protocol names to their adapters; fallback serves chargers whose protocol
// is unknown (nil: Offline). sessions finds the charger of a session to stop.
func NewCommandRouter(protocol func(chargerID string) string, adapters map[string]Commands, fallback Commands, sessions SessionStore) *CommandRouter {
	return &CommandRouter{protocol: protocol, adapters: adapters, fallback: fallback, sessions: sessions}
}

func (r *CommandRouter) pick(chargerID string) Commands {
	if r.protocol != nil {
		if a, ok := r.adapters[r.protocol(chargerID)]; ok {
			return a
		}
	}
	if r.fallback == nil {
		return Offline{}
	}
	return r.fallback
}

// StartCharging routes to the charger's adapter.
func (r *CommandRouter) StartCharging(ctx context.Context, c StartCharging) (CommandResult, error) {
	return r.pick(c.ChargerID).StartCharging(ctx, c)
}

// StopCharging routes to the adapter of the session's charger.
func (r *CommandRouter) StopCharging(ctx context.Context, c StopCharging) (CommandResult, error) {
	s, err := r.sessions.GetSession(ctx, c.SessionID)
	if err != nil {
		return CommandResult{}, fmt.Errorf("stop session %s: %w", c.SessionID, err)
	}
	return r.pick(s.ChargerID).StopCharging(ctx, c)
}

// Reserve routes to the charger's adapter.
func (r *CommandRouter) Reserve(ctx context.Context, c Reserve) (CommandResult, error) {
	return r.pick(c.ChargerID).Reserve(ctx, c)
}

// CancelReservation routes to the charger's adapter.
func (r *CommandRouter) CancelReservation(ctx context.Context, c CancelReservation) (CommandResult, error) {
	return r.pick(c.ChargerID).CancelReservation(ctx, c)
}

// Unlock routes to the charger's adapter.
func (r *CommandRouter) Unlock(ctx context.Context, c Unlock) (CommandResult, error) {
	return r.pick(c.ChargerID).Unlock(ctx, c)
}

// Reset routes to the charger's adapter.
func (r *CommandRouter) Reset(ctx context.Context, c Reset) (CommandResult, error) {
	return r.pick(c.ChargerID).Reset(ctx, c)
}

// ChangeAvailability routes to the charger's adapter.
func (r *CommandRouter) ChangeAvailability(ctx context.Context, c ChangeAvailability) (CommandResult, error) {
	return r.pick(c.ChargerID).ChangeAvailability(ctx, c)
}

// SetChargingLimit validates the limit and routes it to the charger's
// adapter.
func (r *CommandRouter) SetChargingLimit(ctx context.Context, c ChargingLimit) (CommandResult, error) {
	if err := c.Validate(); err != nil {
		return CommandResult{}, err
	}
	return r.pick(c.ChargerID).SetChargingLimit(ctx, c)
}

// FindSession returns a charger's session in status st that match
// accepts, or ErrNotFound. Command adapters use it to name the session a
// command created (a pending remote start, a reservation).
func (s *Service) FindSession(ctx context.Context, chargerID string, st SessionStatus, match func(Session) bool) (Session, error) {
	return s.findSession(ctx, chargerID, st, match)
}

// RemoteStartSession is the session a remote start a charger accepted
// created: the pending one, or, when the charger was quick, the active
// session its start turned it into (connectorID 0: any connector).
func (s *Service) RemoteStartSession(ctx context.Context, chargerID string, connectorID int, idTag string) (Session, error) {
	var err error
	for _, st := range []SessionStatus{SessionPending, SessionActive} {
		var sess Session
		if sess, err = s.findSession(ctx, chargerID, st, func(x Session) bool {
			return x.IDTag == idTag && (connectorID == 0 || x.ConnectorID == connectorID)
		}); err == nil {
			return sess, nil
		}
	}
	return Session{}, err
}

// Offline is the command port of chargers that are not connected: every
// command fails with ErrNotConnected. The router uses it for a charger whose
// protocol no adapter speaks.
type Offline struct{}

var _ Commands = Offline{}

func offline(chargerID string) error {
	return fmt.Errorf("%w: %s", ErrNotConnected, chargerID)
}

// StartCharging fails: the charger is not connected.
func (Offline) StartCharging(_ context.Context, r StartCharging) (CommandResult, error) {
	return CommandResult{}, offline(r.ChargerID)
}

// StopCharging fails: the charger is not connected.
func (Offline) StopCharging(_ context.Context, r StopCharging) (CommandResult, error) {
	return CommandResult{}, fmt.Errorf("stop session %s: %w", r.SessionID, ErrNotConnected)
}

// Reserve fails: the charger is not connected.
func (Offline) Reserve(_ context.Context, r Reserve) (CommandResult, error) {
	return CommandResult{}, offline(r.ChargerID)
}

// CancelReservation fails: the charger is not connected.
func (Offline) CancelReservation(_ context.Context, r CancelReservation) (CommandResult, error) {
	return CommandResult{}, offline(r.ChargerID)
}

// Unlock fails: the charger is not connected.
func (Offline) Unlock(_ context.Context, r Unlock) (CommandResult, error) {
	return CommandResult{}, offline(r.ChargerID)
}

// Reset fails: the charger is not connected.
func (Offline) Reset(_ context.Context, r Reset) (CommandResult, error) {
	return CommandResult{}, offline(r.ChargerID)
}

// ChangeAvailability fails: the charger is not connected.
func (Offline) ChangeAvailability(_ context.Context, r ChangeAvailability) (CommandResult, error) {
	return CommandResult{}, offline(r.ChargerID)
}

// SetChargingLimit fails: the charger is not connected.
func (Offline) SetChargingLimit(_ context.Context, r ChargingLimit) (CommandResult, error) {
	return CommandResult{}, offline(r.ChargerID)
}
