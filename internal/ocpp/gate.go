package ocpp

import (
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/chargebridge/chargebridge/internal/ratelog"
)

// Gate admits the CALLs a charger sends, for one protocol version: the
// action must be one a charger sends, and its payload must match the
// schema. Both protocol adapters use it, so a bad call is answered, logged
// and counted the same way whatever the version.
type Gate struct {
	V *Validator
	// Actions are the actions a charger sends in this version.
	Actions map[string]bool
	// Central names the other side in errors ("central system", "CSMS").
	Central string
	Log     *slog.Logger
	// BadLogs samples the log lines per charger.
	BadLogs *ratelog.Limiter
	// Rejected, when set, counts payloads the schema refused.
	Rejected *atomic.Int64
}

// Admit returns the CALLERROR for a call that must not reach the handler,
// or nil.
func (g *Gate) Admit(chargerID, action string, payload json.RawMessage) *Error {
	if !g.Actions[action] {
		if g.V.Has(action) {
			return Errorf(NotSupported, "%s is sent by the %s, not by a charger", action, g.Central)
		}
		return Errorf(NotImplemented, "unknown action %q", action)
	}
	e := g.V.Validate(action, payload)
	if e == nil {
		return nil
	}
	if g.Rejected != nil {
		g.Rejected.Add(1)
	}
	if ok, held := g.BadLogs.Allow(chargerID, time.Now()); ok {
		g.Log.Info("payload rejected by schema", "charger", chargerID, "action", action, "code", e.Code, "reason", Clip(e.Description, 300), "held_back", held)
	}
	return e
}

// Clip shortens s to n bytes for a log line.
func Clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
