package tariff

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// ErrInvalidCDR is matched (errors.Is) by errors about the CDR given to
// PriceCDR.
var ErrInvalidCDR = errors.New("invalid cdr")

// cdr is the part of an OCPI CDR that pricing reads.
type cdr struct {
	StartDateTime   DateTime         `json:"start_date_time"`
	EndDateTime     DateTime         `json:"end_date_time"`
	Currency        string           `json:"currency"`
	CdrLocation     cdrLocation      `json:"cdr_location"`
	ChargingPeriods []ChargingPeriod `json:"charging_periods"`
	TotalEnergy     *Number          `json:"total_energy"`
}

type cdrLocation struct {
	// TimeZone is not a CdrLocation field in OCPI 2.2.1 (Location has it);
	// some CPOs add it, and we read it when present.
	TimeZone string `json:"time_zone"`
}

func cdrError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidCDR, fmt.Sprintf(format, args...))
}

// CDRTimeZone returns the IANA time zone in the CDR's cdr_location
// (time_zone), or "" when it has none. OCPI 2.2.1's CdrLocation has no such
// field, so it is usually "".
func CDRTimeZone(cdrJSON []byte) (string, error) {
	var c struct {
		CdrLocation cdrLocation `json:"cdr_location"`
	}
	if err := json.Unmarshal(cdrJSON, &c); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidCDR, err)
	}
	return c.CdrLocation.TimeZone, nil
}

// CDRLocation returns the zone to price a CDR in when the user named none:
// the CDR's cdr_location.time_zone if present, else UTC.
func CDRLocation(cdrJSON []byte) (*time.Location, error) {
	tz, err := CDRTimeZone(cdrJSON)
	if err != nil || tz == "" {
		return time.UTC, err
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, cdrError("cdr_location.time_zone %q: %v", tz, err)
	}
	return loc, nil
}

// PriceCDR prices the charging periods of an OCPI CDR with an OCPI tariff,
// restrictions evaluated in loc, and returns the totals under the CDR's
// field names. Each period is taken as homogeneous, as the spec requires a
// new period whenever a price may change: its restrictions are evaluated
// at its start. See the package documentation for how a period's
// dimensions are read.
func PriceCDR(tariffJSON, cdrJSON []byte, loc *time.Location) (Totals, error) {
	t, err := ParseTariff(tariffJSON)
	if err != nil {
		return Totals{}, err
	}
	c, err := compile(t)
	if err != nil {
		return Totals{}, err
	}
	if loc == nil {
		return Totals{}, errors.New("price cdr: nil location (use time.UTC for none)")
	}
	var r cdr
	if err := json.Unmarshal(cdrJSON, &r); err != nil {
		return Totals{}, fmt.Errorf("%w: %v", ErrInvalidCDR, err)
	}
	segs, err := cdrSegments(c, loc, &r)
	if err != nil {
		return Totals{}, err
	}
	begin := r.StartDateTime.Time
	if begin.IsZero() {
		begin = r.ChargingPeriods[0].StartDateTime.Time
	}
	if err := c.checkActive(begin); err != nil {
		return Totals{}, err
	}
	c.selectComponents(segs)
	res := c.price(segs)
	if r.TotalEnergy != nil && !hasDimension(r.ChargingPeriods, CdrEnergy) {
		// The periods do not say how much energy was charged (a tariff
		// without ENERGY components makes it irrelevant): keep the CDR's.
		res.exact.energyKWh = r.TotalEnergy.Decimal
	}
	return res.exact.totals(WirePlaces), nil
}

func hasDimension(periods []ChargingPeriod, t CdrDimensionType) bool {
	for _, p := range periods {
		for _, d := range p.Dimensions {
			if d.Type == t {
				return true
			}
		}
	}
	return false
}

// cdrSegments turns each charging period into a segment (two when a period
// mixes reservation time with session time).
func cdrSegments(c *compiled, loc *time.Location, r *cdr) ([]segment, error) {
	if r.Currency != "" && r.Currency != c.t.Currency {
		return nil, cdrError("currency %s differs from the tariff's %s", r.Currency, c.t.Currency)
	}
	ps := r.ChargingPeriods
	if len(ps) == 0 {
		return nil, cdrError("no charging_periods")
	}
	if r.EndDateTime.IsZero() {
		return nil, cdrError("no end_date_time")
	}
	for i, p := range ps {
		if p.TariffID != "" && p.TariffID != c.t.ID {
			return nil, cdrError("charging_periods[%d] is for tariff %q, not %q", i, p.TariffID, c.t.ID)
		}
		if i > 0 && p.StartDateTime.Before(ps[i-1].StartDateTime.Time) {
			return nil, cdrError("charging_periods[%d] starts before the one before it", i)
		}
	}
	if last := ps[len(ps)-1].StartDateTime; r.EndDateTime.Before(last.Time) {
		return nil, cdrError("end_date_time %s is before the last period's start %s", r.EndDateTime, last)
	}
	if r.EndDateTime.Sub(ps[0].StartDateTime.Time) > maxSpan {
		return nil, cdrError("the periods span more than %s", maxSpan)
	}

	var segs []segment
	var resStart, sessStart time.Time
	kwh := decimal.Zero
	hasSession := false
	for i, p := range ps {
		end := r.EndDateTime.Time
		if i+1 < len(ps) {
			end = ps[i+1].StartDateTime.Time
		}
		var vol [numCdrDims]decimal.Decimal
		var has [numCdrDims]bool
		for j, d := range p.Dimensions {
			k, ok := cdrDimIndex(d.Type)
			if !ok {
				if !d.Type.Valid() {
					return nil, cdrError("charging_periods[%d].dimensions[%d]: unknown CdrDimensionType %q", i, j, d.Type)
				}
				continue
			}
			switch {
			case k <= cdReservation: // quantities add up
				vol[k], has[k] = vol[k].Add(d.Volume.Decimal), true
			case !has[k]: // levels: the first one counts
				vol[k], has[k] = d.Volume.Decimal, true
			}
		}
		start := p.StartDateTime.Time
		if has[cdReservation] {
			if resStart.IsZero() {
				resStart = start
			}
			segs = append(segs, segment{start: start, end: end, period: i, phase: phaseReservation,
				reservedSec: vol[cdReservation].Mul(d3600),
				pt:          point{local: start.In(loc), since: start.Sub(resStart)}})
		}
		timed := has[cdTime] || has[cdParking] || has[cdReservation]
		if has[cdReservation] && !has[cdTime] && !has[cdParking] && !has[cdEnergy] {
			continue
		}
		if sessStart.IsZero() {
			sessStart = start
		}
		hasSession = true
		s := segment{start: start, end: end, period: i, phase: phaseSession,
			energy:      vol[cdEnergy],
			chargingSec: vol[cdTime].Mul(d3600),
			parkingSec:  vol[cdParking].Mul(d3600),
			charging:    has[cdTime],
			parking:     has[cdParking],
		}
		if !timed {
			// No time dimension at all: the period was spent charging.
			s.charging, s.chargingSec = true, seconds(end.Sub(start))
		}
		s.power = firstKnown(vol, has, cdMaxPower, cdPower, cdMinPower)
		if !s.power.Valid && s.chargingSec.IsPositive() && has[cdEnergy] {
			s.power = decimal.NewNullDecimal(s.energy.Mul(d3600).DivRound(s.chargingSec, 6))
		}
		s.current = firstKnown(vol, has, cdMaxCurrent, cdCurrent, cdMinCurrent)
		s.pt = point{local: start.In(loc), since: start.Sub(sessStart), kwh: kwh, power: s.power, current: s.current}
		kwh = kwh.Add(s.energy)
		segs = append(segs, s)
	}
	if !hasSession {
		for i := range segs {
			segs[i].phase = phaseExpiredReservation
		}
	}
	return segs, nil
}

// The CDR dimensions pricing reads.
const (
	cdEnergy = iota
	cdTime
	cdParking
	cdReservation
	cdMaxPower
	cdPower
	cdMinPower
	cdMaxCurrent
	cdCurrent
	cdMinCurrent
	numCdrDims
)

func cdrDimIndex(t CdrDimensionType) (int, bool) {
	switch t {
	case CdrEnergy:
		return cdEnergy, true
	case CdrTime:
		return cdTime, true
	case CdrParkingTime:
		return cdParking, true
	case CdrReservationTime:
		return cdReservation, true
	case CdrMaxPower:
		return cdMaxPower, true
	case CdrPower:
		return cdPower, true
	case CdrMinPower:
		return cdMinPower, true
	case CdrMaxCurrent:
		return cdMaxCurrent, true
	case CdrCurrent:
		return cdCurrent, true
	case CdrMinCurrent:
		return cdMinCurrent, true
	}
	return 0, false
}

func firstKnown(vol [numCdrDims]decimal.Decimal, has [numCdrDims]bool, order ...int) decimal.NullDecimal {
	for _, k := range order {
		if has[k] {
			return decimal.NewNullDecimal(vol[k])
		}
	}
	return decimal.NullDecimal{}
}
