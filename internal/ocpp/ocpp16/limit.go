package ocpp16

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// LimitCaps learns how a 1.6 charger takes charging limits: the rate unit
// (W when its ChargingScheduleAllowedChargingRateUnit lists Power, else A)
// and its ChargeProfileMaxStackLevel, asked once per charger and hour with
// GetConfiguration. Load management uses it to fill a
// charging.ChargingLimit for the command port.
type LimitCaps struct {
	ask CapsAsker
	now func() time.Time

	// mu guards caps.
	mu   sync.Mutex
	caps map[string]limitCaps
}

type limitCaps struct {
	unit  charging.LimitUnit
	stack int
	at    time.Time
}

// CapsAsker asks a charger for the rate unit and the highest stack level
// it takes charging limits in. A CALLERROR answer (*ocpp.Error) means the
// charger does not say; other errors mean it could not be asked.
type CapsAsker func(ctx context.Context, chargerID string) (unit charging.LimitUnit, stack int, err error)

// NewLimitCaps returns a LimitCaps asking 1.6 chargers through cmd.
func NewLimitCaps(cmd *Commander, now func() time.Time) *LimitCaps {
	return NewLimitCapsAsking(askConfiguration(cmd), now)
}

// NewLimitCapsAsking returns a LimitCaps asking with ask (another OCPP
// version's way).
func NewLimitCapsAsking(ask CapsAsker, now func() time.Time) *LimitCaps {
	return &LimitCaps{ask: ask, now: now, caps: map[string]limitCaps{}}
}

// Forget drops what is known of a charger (it reconnected: its firmware or
// settings may have changed).
func (l *LimitCaps) Forget(chargerID string) {
	l.mu.Lock()
	delete(l.caps, chargerID)
	l.mu.Unlock()
}

// Get returns the unit and stack level to send the charger's limits in. A
// charger that does not say (it answers GetConfiguration with a CALLERROR,
// as one that speaks another protocol does) gets A (every smart-charging
// implementation takes current) at stack level 1.
func (l *LimitCaps) Get(ctx context.Context, chargerID string) (charging.LimitUnit, int, error) {
	now := l.now()
	l.mu.Lock()
	c, ok := l.caps[chargerID]
	l.mu.Unlock()
	if ok && now.Sub(c.at) < time.Hour {
		return c.unit, c.stack, nil
	}
	c = limitCaps{unit: charging.LimitAmps, stack: 1, at: now}
	unit, stack, err := l.ask(ctx, chargerID)
	var oe *ocpp.Error
	switch {
	case errors.As(err, &oe):
	case err != nil:
		return "", 0, fmt.Errorf("ask %s for its charging rate units: %w", chargerID, CoreError(err))
	default:
		if unit != "" {
			c.unit = unit
		}
		if stack >= 1 {
			c.stack = stack
		}
	}
	l.mu.Lock()
	l.caps[chargerID] = c
	l.mu.Unlock()
	return c.unit, c.stack, nil
}

// RateUnit picks W when the charger takes power, else A. The value is a
// list separated by commas of "Current" and "Power" (1.6) or "A" and "W"
// (2.0.1's SmartChargingCtrlr.RateUnit).
func RateUnit(v string) charging.LimitUnit {
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); strings.EqualFold(u, "Power") || u == "W" {
			return charging.LimitWatts
		}
	}
	return charging.LimitAmps
}

// askConfiguration asks a 1.6 charger with GetConfiguration.
func askConfiguration(cmd *Commander) CapsAsker {
	return func(ctx context.Context, chargerID string) (charging.LimitUnit, int, error) {
		res, err := cmd.Send(ctx, chargerID, "GetConfiguration",
			json.RawMessage(`{"key":["ChargingScheduleAllowedChargingRateUnit","ChargeProfileMaxStackLevel"]}`), "loadmgmt")
		if err != nil {
			return "", 0, err
		}
		var conf struct {
			Keys []struct {
				Key   string  `json:"key"`
				Value *string `json:"value"`
			} `json:"configurationKey"`
		}
		_ = json.Unmarshal(res, &conf)
		var unit charging.LimitUnit
		stack := 0
		for _, k := range conf.Keys {
			if k.Value == nil {
				continue
			}
			switch k.Key {
			case "ChargingScheduleAllowedChargingRateUnit":
				unit = RateUnit(*k.Value)
			case "ChargeProfileMaxStackLevel":
				if n, err := strconv.Atoi(strings.TrimSpace(*k.Value)); err == nil && n >= 1 {
					stack = n
				}
			}
		}
		return unit, stack, nil
	}
}
