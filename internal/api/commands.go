package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp16"
)

// Commander sends operator commands to chargers.
type Commander interface {
	Send(ctx context.Context, chargerID, action string, payload json.RawMessage, requestedBy string) (json.RawMessage, error)
}

// CommandHistory lists a charger's command log, newest first.
type CommandHistory interface {
	ListCommands(ctx context.Context, chargerID string, limit int) ([]ocpp16.CommandRecord, error)
}

// WithCommands enables the command endpoints.
func (a *API) WithCommands(c Commander, h CommandHistory) *API {
	a.commander, a.history = c, h
	return a
}

// commandErrors maps command errors to HTTP statuses, in one table.
var commandErrors = []struct {
	err    error
	status int
}{
	{ocpp16.ErrUnknownCommand, http.StatusNotFound},
	{ocpp16.ErrInvalidCommand, http.StatusBadRequest},
	{ocpp16.ErrInvalidAnswer, http.StatusBadGateway},
	{ocpp.ErrNotConnected, http.StatusConflict},
	{ocpp.ErrCallTimeout, http.StatusGatewayTimeout},
	{ocpp.ErrClosed, http.StatusBadGateway},
}

// CommandStatus returns the HTTP status for a command error.
func CommandStatus(err error) int {
	var oe *ocpp.Error
	if errors.As(err, &oe) {
		return http.StatusBadGateway
	}
	for _, m := range commandErrors {
		if errors.Is(err, m.err) {
			return m.status
		}
	}
	return StatusFor(err)
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
	who := r.Header.Get("X-Requested-By")
	if who == "" {
		who = "api"
	}
	res, err := a.commander.Send(r.Context(), r.PathValue("id"), r.PathValue("action"), body, who)
	if errors.Is(err, ocpp.ErrNotConnected) {
		// Not connected may mean never registered: say which.
		if _, gerr := a.svc.Store().GetCharger(r.Context(), r.PathValue("id")); errors.Is(gerr, charging.ErrNotFound) {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("charger %s is not registered (chargebridge chargers add %s)", r.PathValue("id"), r.PathValue("id"))})
			return
		}
	}
	if err != nil {
		out := map[string]any{"error": err.Error()}
		var oe *ocpp.Error
		if errors.As(err, &oe) {
			out["code"] = oe.Code
			out["description"] = oe.Description
		}
		if res != nil {
			out["response"] = res
		}
		writeJSON(w, CommandStatus(err), out)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(res)
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
		recs = []ocpp16.CommandRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": recs})
}
