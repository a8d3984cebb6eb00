package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// Commands are sent two ways: protocol-neutral actions through the core's
// command port (POST /api/v1/chargers/{id}/actions/{name} and
// /api/v1/sessions/{id}/stop), which every chargebridge client uses, and raw
// protocol messages for experts (POST /api/v1/chargers/{id}/commands/{Action}
// with the OCPP payload). Both answer errors through commandErrors.

// RawCommander sends a raw protocol message to a charger, with errors in
// core terms.
type RawCommander interface {
	Send(ctx context.Context, chargerID, action string, payload json.RawMessage, requestedBy string) (json.RawMessage, error)
}

// CommandHistory lists a charger's command log, newest first.
type CommandHistory interface {
	ListCommands(ctx context.Context, chargerID string, limit int) ([]charging.CommandRecord, error)
}

// WithCommands enables the command endpoints: port for the neutral
// actions, raw for the expert endpoint, h for the command log.
func (a *API) WithCommands(port charging.Commands, raw RawCommander, h CommandHistory) *API {
	a.port, a.commander, a.history = port, raw, h
	return a
}

// commandErrors maps the core's command errors to HTTP statuses, in one
// table tried in order; every error of charging.CommandErrors is here.
var commandErrors = []struct {
	err    error
	status int
}{
	{charging.ErrNotConnected, http.StatusConflict},
	{charging.ErrTimeout, http.StatusGatewayTimeout},
	{charging.ErrRejected, http.StatusConflict},
	{charging.ErrChargerError, http.StatusBadGateway},
	{charging.ErrInvalidAnswer, http.StatusBadGateway},
	{charging.ErrNotSupported, http.StatusNotImplemented},
	{charging.ErrInvalidInput, http.StatusBadRequest},
	{charging.ErrNotFound, http.StatusNotFound},
	{charging.ErrConflict, http.StatusConflict},
}

// CommandStatus returns the HTTP status for a command error.
func CommandStatus(err error) int {
	for _, m := range commandErrors {
		if errors.Is(err, m.err) {
			return m.status
		}
	}
	return StatusFor(err)
}

// commandFailed answers a failed command: its status from the table, the
// error in one line, and what the charger said when it said something.
func (a *API) commandFailed(w http.ResponseWriter, r *http.Request, chargerID string, err error, res json.RawMessage) {
	if errors.Is(err, charging.ErrNotConnected) && chargerID != "" {
		// Not connected may mean never registered: say which.
		if _, gerr := a.svc.Store().GetCharger(r.Context(), chargerID); errors.Is(gerr, charging.ErrNotFound) {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("charger %s is not registered (chargebridge chargers add %s)", chargerID, chargerID)})
			return
		}
	}
	out := map[string]any{"error": err.Error()}
	var ce *charging.ChargerError
	if errors.As(err, &ce) {
		out["code"] = ce.Code
		out["description"] = ce.Description
	}
	var rej *charging.Rejection
	if errors.As(err, &rej) {
		out["status"] = rej.Result.Status
		out["answer"] = rej.Result.Answer
	}
	if res != nil {
		out["response"] = res
	}
	writeJSON(w, CommandStatus(err), out)
}

func requestedBy(r *http.Request) string {
	if who := r.Header.Get("X-Requested-By"); who != "" {
		return who
	}
	return "api"
}

func (a *API) sendCommand(w http.ResponseWriter, r *http.Request) {
	if a.commander == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "commands are not available on this server"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "read body: " + err.Error()})
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	if !json.Valid(body) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body is not JSON: send the OCPP payload of the action"})
		return
	}
	id := r.PathValue("id")
	res, err := a.commander.Send(r.Context(), id, r.PathValue("action"), body, requestedBy(r))
	if err != nil {
		a.commandFailed(w, r, id, err, res)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(res)
}

// actionRequest holds the fields of every neutral action's body.
type actionRequest struct {
	ConnectorID *int `json:"connector_id"`
	// EVSEConnectorID is the connector within EVSE ConnectorID (unlock).
	EVSEConnectorID int        `json:"evse_connector_id"`
	IDTag           string     `json:"id_tag"`
	ParentIDTag     string     `json:"parent_id_tag"`
	ReservationID   *int64     `json:"reservation_id"`
	ExpiresAt       *time.Time `json:"expires_at"`
	Hard            bool       `json:"hard"`
	Operative       *bool      `json:"operative"`
	Purpose         string     `json:"purpose"`
	Limit           *float64   `json:"limit"`
	Unit            string     `json:"unit"`
	Phases          int        `json:"phases"`
	ProfileID       int        `json:"profile_id"`
	StackLevel      int        `json:"stack_level"`
	Until           *time.Time `json:"until"`
}

// Actions lists the neutral actions of POST /api/v1/chargers/{id}/actions/{name}.
var Actions = []string{"start", "reserve", "cancel-reservation", "unlock", "reset", "change-availability", "set-charging-limit"}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", charging.ErrInvalidInput, fmt.Sprintf(format, args...))
}

// runAction sends one neutral action through the command port.
func (a *API) runAction(ctx context.Context, chargerID, name, by string, q actionRequest) (charging.CommandResult, error) {
	conn := 0
	if q.ConnectorID != nil {
		conn = *q.ConnectorID
	}
	switch name {
	case "start":
		if q.IDTag == "" {
			return charging.CommandResult{}, invalid("start needs id_tag")
		}
		return a.port.StartCharging(ctx, charging.StartCharging{ChargerID: chargerID, ConnectorID: conn, IDTag: q.IDTag, RequestedBy: by})
	case "reserve":
		if q.IDTag == "" || q.ReservationID == nil || q.ExpiresAt == nil || q.ConnectorID == nil {
			return charging.CommandResult{}, invalid("reserve needs connector_id, id_tag, reservation_id and expires_at")
		}
		return a.port.Reserve(ctx, charging.Reserve{ChargerID: chargerID, ConnectorID: conn, IDTag: q.IDTag, ParentIDTag: q.ParentIDTag,
			ReservationID: *q.ReservationID, ExpiresAt: *q.ExpiresAt, RequestedBy: by})
	case "cancel-reservation":
		if q.ReservationID == nil {
			return charging.CommandResult{}, invalid("cancel-reservation needs reservation_id")
		}
		return a.port.CancelReservation(ctx, charging.CancelReservation{ChargerID: chargerID, ReservationID: *q.ReservationID, RequestedBy: by})
	case "unlock":
		if q.ConnectorID == nil {
			return charging.CommandResult{}, invalid("unlock needs connector_id")
		}
		return a.port.Unlock(ctx, charging.Unlock{ChargerID: chargerID, ConnectorID: conn, EVSEConnectorID: q.EVSEConnectorID, RequestedBy: by})
	case "reset":
		return a.port.Reset(ctx, charging.Reset{ChargerID: chargerID, Hard: q.Hard, RequestedBy: by})
	case "change-availability":
		if q.Operative == nil {
			return charging.CommandResult{}, invalid("change-availability needs operative (true or false)")
		}
		return a.port.ChangeAvailability(ctx, charging.ChangeAvailability{ChargerID: chargerID, ConnectorID: conn, Operative: *q.Operative, RequestedBy: by})
	case "set-charging-limit":
		if q.Limit == nil {
			return charging.CommandResult{}, invalid("set-charging-limit needs limit")
		}
		l := charging.ChargingLimit{ChargerID: chargerID, ConnectorID: conn, Purpose: charging.LimitPurpose(q.Purpose), Limit: *q.Limit,
			Unit: charging.LimitUnit(q.Unit), Phases: q.Phases, ProfileID: q.ProfileID, StackLevel: q.StackLevel, RequestedBy: by}
		if q.Until != nil {
			l.Until = *q.Until
		}
		return a.port.SetChargingLimit(ctx, l)
	}
	return charging.CommandResult{}, fmt.Errorf("%w: action %q; use one of %v", charging.ErrNotFound, name, Actions)
}

func (a *API) chargerAction(w http.ResponseWriter, r *http.Request) {
	if a.port == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "commands are not available on this server"})
		return
	}
	var q actionRequest
	if err := decodeAction(w, r, &q); err != nil {
		a.fail(w, err)
		return
	}
	id := r.PathValue("id")
	res, err := a.runAction(r.Context(), id, r.PathValue("name"), requestedBy(r), q)
	if err != nil {
		a.commandFailed(w, r, id, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *API) stopSession(w http.ResponseWriter, r *http.Request) {
	if a.port == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "commands are not available on this server"})
		return
	}
	res, err := a.port.StopCharging(r.Context(), charging.StopCharging{SessionID: r.PathValue("id"), RequestedBy: requestedBy(r)})
	if err != nil {
		a.commandFailed(w, r, "", err, nil)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// decodeAction reads an action's JSON body (empty is {}).
func decodeAction(w http.ResponseWriter, r *http.Request, q *actionRequest) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
	if err != nil {
		return invalid("read body: %v", err)
	}
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, q); err != nil {
		return invalid("body: %v", err)
	}
	return nil
}

func (a *API) listCommands(w http.ResponseWriter, r *http.Request) {
	if a.history == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "the command log is not available on this server"})
		return
	}
	limit, err := intParam(r, "limit", 100)
	if err != nil {
		a.fail(w, err)
		return
	}
	recs, err := a.history.ListCommands(r.Context(), r.PathValue("id"), min(limit, 1000))
	if err != nil {
		a.fail(w, err)
		return
	}
	if recs == nil {
		recs = []charging.CommandRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": recs})
}
