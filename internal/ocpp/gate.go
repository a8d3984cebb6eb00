package ocpp

import (
	"context"
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
	// Rejected, when set and Record is not, counts payloads the schema
	// refused.
	Rejected *atomic.Int64
	// Record, when set, records each violation for its charger (the
	// core's RecordViolation, which also counts it for /metrics): kind
	// "string-too-long" or "unknown-enum" for a deviation, "schema" for
	// any other refusal; outcome "tolerated" or "refused".
	Record func(ctx context.Context, chargerID, kind, outcome, example string)
}

// Admit returns the CALLERROR for a call that must not reach the handler,
// or nil.
func (g *Gate) Admit(chargerID, action string, payload json.RawMessage) *Error {
	return g.AdmitFor(context.Background(), chargerID, false, action, payload)
}

// AdmitFor is Admit for a charger that may be tolerated: with tolerate, a
// payload whose only faults are deviations (an over-long string, an
// unknown enum value: see Validator.ValidateLenient) is admitted as sent
// and each deviation recorded as tolerated; without it, it is refused and
// recorded as refused.
func (g *Gate) AdmitFor(ctx context.Context, chargerID string, tolerate bool, action string, payload json.RawMessage) *Error {
	if !g.Actions[action] {
		if g.V.Has(action) {
			return Errorf(NotSupported, "%s is sent by the %s, not by a charger", action, g.Central)
		}
		return Errorf(NotImplemented, "unknown action %q", action)
	}
	devs, e := g.V.ValidateLenient(action, payload)
	if e == nil && len(devs) == 0 {
		return nil
	}
	if e == nil && tolerate {
		for _, d := range devs {
			g.record(ctx, chargerID, d.Kind, "tolerated", action+" "+d.Path+"="+d.Value)
		}
		return nil
	}
	if e != nil {
		// The strict reading's first error, as Validate gives it.
		e = g.V.Validate(action, payload)
	} else {
		e = devs[0].Err
	}
	switch {
	case g.Record == nil:
		if g.Rejected != nil {
			g.Rejected.Add(1)
		}
	case len(devs) == 0 || e != devs[0].Err:
		g.record(ctx, chargerID, "schema", "refused", action+": "+e.Description)
	default:
		for _, d := range devs {
			g.record(ctx, chargerID, d.Kind, "refused", action+" "+d.Path+"="+d.Value)
		}
	}
	if ok, held := g.BadLogs.Allow(chargerID, time.Now()); ok {
		g.Log.Info("payload rejected by schema", "charger", chargerID, "action", action, "code", e.Code, "reason", Clip(e.Description, 300), "held_back", held)
	}
	return e
}

func (g *Gate) record(ctx context.Context, chargerID, kind, outcome, example string) {
	if g.Record != nil {
		g.Record(ctx, chargerID, kind, outcome, example)
	}
}

// Clip shortens s to n bytes for a log line.
func Clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
