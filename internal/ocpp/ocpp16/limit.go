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
	cmd *Commander
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

// NewLimitCaps returns a LimitCaps asking through cmd.
func NewLimitCaps(cmd *Commander, now func() time.Time) *LimitCaps {
	return &LimitCaps{cmd: cmd, now: now, caps: map[string]limitCaps{}}
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
	res, err := l.cmd.Send(ctx, chargerID, "GetConfiguration",
		json.RawMessage(`{"key":["ChargingScheduleAllowedChargingRateUnit","ChargeProfileMaxStackLevel"]}`), "loadmgmt")
	if err != nil {
		var oe *ocpp.Error
		if !errors.As(err, &oe) {
			return "", 0, fmt.Errorf("ask %s for its charging rate units: %w", chargerID, CoreError(err))
		}
	} else {
		var conf struct {
			Keys []struct {
				Key   string  `json:"key"`
				Value *string `json:"value"`
			} `json:"configurationKey"`
		}
		_ = json.Unmarshal(res, &conf)
		for _, k := range conf.Keys {
			if k.Value == nil {
				continue
			}
			switch k.Key {
			case "ChargingScheduleAllowedChargingRateUnit":
				c.unit = rateUnit(*k.Value)
			case "ChargeProfileMaxStackLevel":
				if n, err := strconv.Atoi(strings.TrimSpace(*k.Value)); err == nil && n >= 1 {
					c.stack = n
				}
			}
		}
	}
	l.mu.Lock()
	l.caps[chargerID] = c
	l.mu.Unlock()
	return c.unit, c.stack, nil
}

// rateUnit picks W when the charger takes power, else A. The value is a
// CSL of "Current" and "Power".
func rateUnit(v string) charging.LimitUnit {
	for _, u := range strings.Split(v, ",") {
		if strings.EqualFold(strings.TrimSpace(u), "Power") {
			return charging.LimitWatts
		}
	}
	return charging.LimitAmps
}
