package charging

import (
	"math"
	"strconv"
	"time"
)

// Bounds of a plausible energy register reading. A reading outside them is
// stored as reported but never applied to a session's energy: a register
// above MaxRegisterWh (1 TWh: a meter that has delivered that much to one
// charger does not exist), or one that jumps by more than MaxRegisterJumpWh
// (10 GWh) over the session's last reading, is flagged register-implausible;
// one below the last reading (by more than RegisterSlackWh, which absorbs
// the rounding of kWh readings converted to Wh) is flagged
// register-backwards, as after a meter replacement.
const (
	MaxRegisterWh     = 1e12
	MaxRegisterJumpWh = 1e10
	RegisterSlackWh   = 0.5
)

// Context values of sampled values that the fold tells apart.
const (
	ContextTransactionBegin = "Transaction.Begin"
	ContextSamplePeriodic   = "Sample.Periodic"
)

// Anomaly is something a charger reported that the core stored but did not
// apply: Kind is a Violation kind, Example the offending value.
type Anomaly struct {
	Kind    string
	Example string
}

// Anomaly kinds the core detects.
const (
	AnomalyMeterStartNegative  = "meter-start-negative"
	AnomalyConnectorOutOfRange = "connector-out-of-range"
	AnomalyRegisterImplausible = "register-implausible"
	AnomalyRegisterBackwards   = "register-backwards"
	AnomalyBeginAndPeriodic    = "begin-and-periodic"
	AnomalyStopUnknownTx       = "stop-unknown-transaction"
)

// counts reports whether a sampled value is one the fold reads: numeric,
// not flagged by the screen (screen.go), at the outlet (or the cable or
// the EV, or unspecified).
func counts(v *SampledValue) bool {
	if !v.Numeric || v.Flagged != "" || math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
		return false
	}
	switch v.Location {
	case "", "Outlet", "Cable", "EV":
		return true
	}
	return false
}

// Fold returns s with what m's samples say applied: the last register is
// the highest plausible Energy.Active.Import.Register reading (without a
// phase), power and state of charge are those of the newest sample
// timestamp (ties: the later in the message), MaxPowerKW is the peak power,
// and LastUpdated is m.ReceivedAt. What cannot be applied is returned as
// anomalies and flagged on the session: implausible or backwards
// registers, and a MeterValues that carries a Transaction.Begin and a
// Sample.Periodic reading at once (a vendor quirk; its Begin readings are
// not applied). A StopTransaction's transactionData (m.TransactionData)
// carries both normally.
func Fold(s Session, m MeterValues) (Session, []Anomaly) {
	var anomalies []Anomaly
	skipBegin := false
	if !m.TransactionData && hasBeginAndPeriodic(m.Samples) {
		skipBegin = true
		anomalies = append(anomalies, Anomaly{Kind: AnomalyBeginAndPeriodic, Example: "Transaction.Begin and Sample.Periodic readings in one MeterValues"})
	}
	for i := range m.Samples {
		smp := &m.Samples[i]
		ts := smp.Timestamp
		for j := range smp.Values {
			v := &smp.Values[j]
			if !counts(v) {
				continue
			}
			switch {
			case v.Measurand == MeasurandEnergyImportRegister && v.Phase == "":
				if skipBegin && v.Context == ContextTransactionBegin {
					continue
				}
				wh := v.Value * 1000
				if a, ok := checkRegister(s, wh); !ok {
					anomalies = append(anomalies, a)
					continue
				}
				s.LastRegisterWh = max(s.LastRegisterWh, wh)
			case v.Measurand == MeasurandPowerImport && v.Phase == "":
				if s.LastPowerAt == nil || !ts.Before(*s.LastPowerAt) {
					r := newReading(v.Value, ts)
					s.LastPowerKW, s.LastPowerAt = &r.value, &r.at
				}
				s.MaxPowerKW = max(s.MaxPowerKW, v.Value)
			case v.Measurand == MeasurandSoC:
				if s.SoCAt == nil || !ts.Before(*s.SoCAt) {
					r := newReading(v.Value, ts)
					s.SoC, s.SoCAt = &r.value, &r.at
				}
			}
		}
	}
	for _, a := range anomalies {
		s.Flags = addFlag(s.Flags, a.Kind)
	}
	s.LastUpdated = m.ReceivedAt
	return s, anomalies
}

// checkRegister reports whether wh is a plausible next register reading of
// s, and the anomaly when it is not.
func checkRegister(s Session, wh float64) (Anomaly, bool) {
	kind := registerAnomaly(s.LastRegisterWh, wh)
	if kind == "" {
		return Anomaly{}, true
	}
	ex := strconv.FormatFloat(wh, 'g', -1, 64) + " Wh"
	if !math.IsNaN(wh) && !math.IsInf(wh, 0) && wh >= 0 && wh <= MaxRegisterWh {
		ex += " after " + strconv.FormatFloat(s.LastRegisterWh, 'g', -1, 64) + " Wh"
	}
	return Anomaly{Kind: kind, Example: ex}, false
}

// registerAnomaly is the one rule for an energy register reading wh that
// follows the highest reading last (last < 0: none known): the anomaly's
// kind, or "" when the reading is plausible.
func registerAnomaly(last, wh float64) string {
	switch {
	case math.IsNaN(wh) || math.IsInf(wh, 0) || wh < 0 || wh > MaxRegisterWh:
		return AnomalyRegisterImplausible
	case last >= 0 && wh-last > MaxRegisterJumpWh:
		return AnomalyRegisterImplausible
	case last >= 0 && wh < last-RegisterSlackWh:
		return AnomalyRegisterBackwards
	}
	return ""
}

// hasBeginAndPeriodic reports whether samples hold both a Transaction.Begin
// and a Sample.Periodic reading.
func hasBeginAndPeriodic(samples []MeterSample) bool {
	var begin, periodic bool
	for i := range samples {
		for j := range samples[i].Values {
			switch samples[i].Values[j].Context {
			case ContextTransactionBegin:
				begin = true
			case ContextSamplePeriodic:
				periodic = true
			}
		}
	}
	return begin && periodic
}

// StartAnomalies checks a start's readings: a negative meter start (kept as
// reported; the session's energy counts from 0 instead) and a connector
// beyond the charger's (connectors is the highest connector the charger
// has reported; 0 when it has reported none, and then only connector ids
// that fit no charger, above MaxConnectorID, are flagged).
func StartAnomalies(meterStartWh int64, connectorID, connectors int) []Anomaly {
	var out []Anomaly
	if meterStartWh < 0 {
		out = append(out, Anomaly{Kind: AnomalyMeterStartNegative, Example: "meterStart " + strconv.FormatInt(meterStartWh, 10)})
	}
	limit := MaxConnectorID
	if connectors > 0 {
		limit = connectors
	}
	if connectorID > limit {
		out = append(out, Anomaly{Kind: AnomalyConnectorOutOfRange, Example: "connectorId " + strconv.Itoa(connectorID)})
	}
	return out
}

// MaxConnectorID is the highest connector id the core believes without the
// charger having reported its connectors.
const MaxConnectorID = 128

// reading is a value and its time, allocated together: the session's
// pointers to the last power (or SoC) and its time point into one, one
// allocation where two were made per MeterValues (#16).
type reading struct {
	value float64
	at    time.Time
}

func newReading(v float64, at time.Time) *reading { return &reading{v, at} }
