package ocpp16

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// Charging profile ids from LimitProfileBase up belong to load management:
// each connector has one TxProfile and one TxDefaultProfile id, so a new
// limit replaces the previous one instead of stacking up.
const LimitProfileBase = 1_700_000_000

// ErrLimitRejected: the charger answered SetChargingProfile with Rejected
// or NotSupported.
var ErrLimitRejected = errors.New("charger rejected the charging profile")

// phaseVoltage converts W to A: limits in A are per phase at 230 V.
const phaseVoltage = 230.0

// ChargingLimiter sets a connector's power limit as an OCPP 1.6 charging
// profile through the Commander: a TxProfile for the running transaction,
// or a TxDefaultProfile for the connector's next ones. The rate unit (W or
// A) and the stack level follow what the charger reports in
// ChargingScheduleAllowedChargingRateUnit and ChargeProfileMaxStackLevel,
// asked once per charger and hour.
type ChargingLimiter struct {
	cmd *Commander
	now func() time.Time

	// mu guards caps.
	mu   sync.Mutex
	caps map[string]limitCaps
}

type limitCaps struct {
	unit  string // "W" or "A"
	stack int
	at    time.Time
}

// NewChargingLimiter returns a ChargingLimiter sending through cmd.
func NewChargingLimiter(cmd *Commander, now func() time.Time) *ChargingLimiter {
	return &ChargingLimiter{cmd: cmd, now: now, caps: map[string]limitCaps{}}
}

// Forget drops what is known of a charger's smart-charging settings (it
// rebooted, or its firmware changed).
func (l *ChargingLimiter) Forget(chargerID string) {
	l.mu.Lock()
	delete(l.caps, chargerID)
	l.mu.Unlock()
}

// SetLimit sends the limit (W; 0 pauses) and returns nil once the charger
// accepted it.
func (l *ChargingLimiter) SetLimit(ctx context.Context, chargerID string, connectorID int, transactionID int64, limitW float64, phases int) error {
	caps, err := l.capabilities(ctx, chargerID)
	if err != nil {
		return err
	}
	body, err := json.Marshal(limitProfile(connectorID, transactionID, limitW, phases, caps))
	if err != nil {
		return err
	}
	res, err := l.cmd.Send(ctx, chargerID, "SetChargingProfile", body, "loadmgmt")
	if err != nil {
		return fmt.Errorf("set charging profile on %s/%d: %w", chargerID, connectorID, err)
	}
	var conf statusConf
	if err := json.Unmarshal(res, &conf); err != nil {
		return fmt.Errorf("set charging profile on %s/%d: %w", chargerID, connectorID, err)
	}
	if conf.Status != "Accepted" {
		return fmt.Errorf("%w: %s/%d answered %s", ErrLimitRejected, chargerID, connectorID, conf.Status)
	}
	return nil
}

type profilePeriod struct {
	StartPeriod  int         `json:"startPeriod"`
	Limit        json.Number `json:"limit"`
	NumberPhases int         `json:"numberPhases,omitempty"`
}

type profileSchedule struct {
	ChargingRateUnit       string          `json:"chargingRateUnit"`
	ChargingSchedulePeriod []profilePeriod `json:"chargingSchedulePeriod"`
}

type profileBody struct {
	ChargingProfileID      int             `json:"chargingProfileId"`
	TransactionID          int64           `json:"transactionId,omitempty"`
	StackLevel             int             `json:"stackLevel"`
	ChargingProfilePurpose string          `json:"chargingProfilePurpose"`
	ChargingProfileKind    string          `json:"chargingProfileKind"`
	ChargingSchedule       profileSchedule `json:"chargingSchedule"`
}

type setProfileReq struct {
	ConnectorID int         `json:"connectorId"`
	Profile     profileBody `json:"csChargingProfiles"`
}

// limitProfile is the SetChargingProfile request for a limit: one period
// from the start of the (next) transaction on, rounded down to 0.1 A or
// 1 W so the charger never gets more than allocated.
func limitProfile(connectorID int, transactionID int64, limitW float64, phases int, caps limitCaps) setProfileReq {
	if phases <= 0 {
		phases = 3
	}
	var limit string
	if caps.unit == "W" {
		limit = strconv.FormatFloat(math.Max(0, math.Floor(limitW)), 'f', 0, 64)
	} else {
		a := math.Floor(limitW/(phaseVoltage*float64(phases))*10) / 10
		limit = strconv.FormatFloat(math.Max(0, a), 'f', 1, 64)
	}
	p := profileBody{
		ChargingProfileID:      LimitProfileBase + connectorID*2,
		TransactionID:          transactionID,
		StackLevel:             caps.stack,
		ChargingProfilePurpose: "TxProfile",
		ChargingProfileKind:    "Relative",
		ChargingSchedule: profileSchedule{ChargingRateUnit: caps.unit,
			ChargingSchedulePeriod: []profilePeriod{{StartPeriod: 0, Limit: json.Number(limit), NumberPhases: phases}}},
	}
	if transactionID == 0 {
		p.ChargingProfileID++
		p.ChargingProfilePurpose = "TxDefaultProfile"
	}
	return setProfileReq{ConnectorID: connectorID, Profile: p}
}

// capabilities asks the charger (once an hour) which rate units and stack
// levels it takes. A charger that does not say gets A (every 1.6 smart
// charging implementation takes current) at stack level 1.
func (l *ChargingLimiter) capabilities(ctx context.Context, chargerID string) (limitCaps, error) {
	now := l.now()
	l.mu.Lock()
	c, ok := l.caps[chargerID]
	l.mu.Unlock()
	if ok && now.Sub(c.at) < time.Hour {
		return c, nil
	}
	c = limitCaps{unit: "A", stack: 1, at: now}
	res, err := l.cmd.Send(ctx, chargerID, "GetConfiguration",
		json.RawMessage(`{"key":["ChargingScheduleAllowedChargingRateUnit","ChargeProfileMaxStackLevel"]}`), "loadmgmt")
	if err != nil {
		var oe *ocpp.Error
		if !errors.As(err, &oe) {
			return limitCaps{}, fmt.Errorf("ask %s for its charging rate units: %w", chargerID, err)
		}
		// A CALLERROR: the charger does not tell; keep the defaults.
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
	return c, nil
}

// rateUnit picks W when the charger takes power, else A. The value is a
// CSL of "Current" and "Power".
func rateUnit(v string) string {
	for _, u := range strings.Split(v, ",") {
		if strings.EqualFold(strings.TrimSpace(u), "Power") {
			return "W"
		}
	}
	return "A"
}
