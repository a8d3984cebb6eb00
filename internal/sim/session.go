package sim

import (
	"encoding/json"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp201"
	"math"
	"strconv"
	"time"
)

// connector is one connector of a charger; connector 0 stands for the whole
// charge point.
type connector struct {
	id     int
	status string // last status reported (or to report on reconnect)
	// operative is the availability set by ChangeAvailability; it survives
	// reboots. pendingInoperative is a change Scheduled for after the
	// running session.
	operative          bool
	pendingInoperative bool
	registerWh         float64 // the meter's lifetime energy register
	sess               *session
	res                *reservation
	profiles           []*chargingProfile
	// idleGen voids idle timers set before the last change.
	idleGen uint64
}

// reservation is a ReserveNow the connector holds.
type reservation struct {
	id          int
	idTag       string
	parentIDTag string
	expiry      time.Time
}

// session is one charging session on a connector, from plug-in to unplug.
type session struct {
	idTag         string
	reservationID *int
	remote        bool
	started       bool // StartTransaction queued
	ended         bool // stopped or lost
	txKnown       bool
	txID          int
	startPayload  []byte
	begin         meterValue // Transaction.Begin sample

	startClock time.Time // clock time of StartTransaction
	startMono  time.Time
	lastMono   time.Time
	endAt      time.Time // planned end, wall time
	nextMeter  time.Time
	tickGen    uint64  // voids ticks set before the last scheduleTick
	simSecs    float64 // simulated seconds charged so far

	targetWh    float64
	deliveredWh float64
	capacityWh  float64
	soc         float64 // percent
	evMaxW      float64
	powerW      float64 // at the last sample
	reason      string  // planned stop reason

	fault      string // planned fault: "drop", "offline", "reboot" or ""
	faultAt    time.Time
	retryStart bool
	retried    bool
	refused    bool // the central system refused the id tag at start

	// 2.0.1: the station's transactionId, the next TransactionEvent's
	// seqNo, and the RequestStartTransaction's remoteStartId.
	txID201       string
	seqNo         int64
	remoteStartID *int64
}

func (s *session) txIDPtr() *int {
	if !s.txKnown {
		return nil
	}
	id := s.txID
	return &id
}

// charging reports whether the session has a transaction that still runs.
func (s *session) charging() bool { return s != nil && s.started && !s.ended }

// idleStatus is the status of a connector without a session.
func (c *Charger) idleStatus(cn *connector) string {
	if !cn.operative || (cn.id != 0 && !c.connectors[0].operative) {
		return "Unavailable"
	}
	if cn.res != nil {
		return "Reserved"
	}
	return "Available"
}

// setStatus changes a connector's status and reports it when online.
func (c *Charger) setStatus(cn *connector, status string) {
	if cn.status == status {
		return
	}
	cn.status = status
	c.sendStatus(cn, false)
}

// sendStatus queues a StatusNotification with the connector's status.
func (c *Charger) sendStatus(cn *connector, triggered bool) {
	if c.v201 {
		if call := c.statusCall201(cn, triggered); call != nil {
			c.enqueue(call)
		}
		return
	}
	req := statusNotificationReq{ConnectorID: cn.id, ErrorCode: "NoError", Status: cn.status, Timestamp: c.stamp(c.now())}
	c.enqueue(&outCall{action: "StatusNotification", triggered: triggered, payload: marshal(req)})
}

// free reports whether a session for idTag may start on cn.
func (c *Charger) free(cn *connector, idTag string) bool {
	if cn.sess != nil || c.idleStatus(cn) == "Unavailable" || cn.status == "Faulted" {
		return false
	}
	return cn.res == nil || cn.res.idTag == idTag || (cn.res.parentIDTag != "" && cn.res.parentIDTag == idTag)
}

// scheduleIdle arranges for a driver to arrive at cn after an idle time.
func (c *Charger) scheduleIdle(cn *connector) {
	cn.idleGen++
	if c.cfg.NoAutoStart || c.cfg.Saturate || !c.everRegistered {
		return
	}
	gen := cn.idleGen
	c.after(c.cfg.IdleTime.draw(c.rng), func() {
		if gen != cn.idleGen || cn.sess != nil {
			return
		}
		tag := c.cfg.IDTags[c.rng.IntN(len(c.cfg.IDTags))]
		if cn.res != nil {
			tag = cn.res.idTag
		}
		if !c.free(cn, tag) {
			c.scheduleIdle(cn)
			return
		}
		c.beginSession(cn, tag, false)
	})
}

// beginSession plugs an EV in and authorizes idTag; the transaction starts
// when the central system accepts it (or at once for a remote start, or
// while offline, which LocalAuthorizeOffline allows).
func (c *Charger) beginSession(cn *connector, idTag string, remote bool) {
	cn.idleGen++
	s := c.planSession(idTag, remote)
	if cn.res != nil {
		id := cn.res.id
		s.reservationID = &id
	}
	cn.sess = s
	c.setStatus(cn, "Preparing")
	if remote && !c.keys.bool("AuthorizeRemoteTxRequests") {
		c.startTransaction(cn, s)
		return
	}
	if !c.online() {
		c.authorizeOffline(cn, s)
		return
	}
	c.enqueue(&outCall{
		action:  "Authorize",
		payload: c.authorizePayload(idTag),
		onResult: func(raw json.RawMessage) {
			if cn.sess != s || s.ended {
				return
			}
			if st, err := authorizeStatus(raw); err != nil || st != "Accepted" {
				c.log.Info("id tag not accepted", "connector", cn.id, "id_tag", idTag, "status", st)
				c.refused("authorize", "Authorize answered "+st)
				c.abandon(cn, s)
				return
			}
			c.startTransaction(cn, s)
		},
		onError: func(err error) {
			if cn.sess != s || s.ended {
				return
			}
			if err == errOffline {
				c.authorizeOffline(cn, s)
				return
			}
			c.abandon(cn, s)
		},
	})
}

// authorizeOffline decides on an id tag without the central system, from the
// local authorization list.
func (c *Charger) authorizeOffline(cn *connector, s *session) {
	if info, ok := c.localList[s.idTag]; ok && info.Status != "Accepted" {
		c.abandon(cn, s)
		return
	}
	if !c.keys.bool("LocalAuthorizeOffline") {
		c.abandon(cn, s)
		return
	}
	c.startTransaction(cn, s)
}

// abandon ends a session that never started a transaction.
func (c *Charger) abandon(cn *connector, s *session) {
	s.ended = true
	if cn.sess == s {
		cn.sess = nil
		c.applyPendingAvailability(cn)
		c.setStatus(cn, c.idleStatus(cn))
		c.scheduleIdle(cn)
	}
}

// planSession draws the EV and the session's course.
func (c *Charger) planSession(idTag string, remote bool) *session {
	r := c.rng
	s := &session{
		idTag:  idTag,
		remote: remote,
		// set while a RequestStartTransaction's session begins
		remoteStartID: c.remoteStartID,
		capacityWh:    (40 + 60*r.Float64()) * 1000,
		soc:           10 + 50*r.Float64(),
		evMaxW:        (40 + 110*r.Float64()) * 1000,
		targetWh:      c.cfg.Energy.draw(r) * 1000,
	}
	if c.cfg.Saturate {
		// A session that never ends: a battery too big to fill keeps the
		// power (and the register) going for the whole benchmark.
		s.targetWh = math.Inf(1)
		s.capacityWh = 1e12
		s.reason = "Local"
		return s
	}
	s.reason = c.drawReason()
	f := c.cfg.Faults
	switch x := r.Float64(); {
	case x < f.DropConnection:
		s.fault = "drop"
	case x < f.DropConnection+f.GoOffline:
		s.fault = "offline"
	case x < f.DropConnection+f.GoOffline+f.RebootMidTransaction:
		s.fault = "reboot"
	}
	s.retryStart = f.RetryStart > 0 && r.Float64() < f.RetryStart
	return s
}

func (c *Charger) drawReason() string {
	var total float64
	for _, w := range c.cfg.StopReasons {
		total += w.Weight
	}
	x := c.rng.Float64() * total
	for _, w := range c.cfg.StopReasons {
		if x < w.Weight {
			return w.Reason
		}
		x -= w.Weight
	}
	return "Local"
}

// startTransaction starts the transaction: StartTransaction goes into the
// queue (it is replayed after an outage) and the connector charges.
func (c *Charger) startTransaction(cn *connector, s *session) {
	mono := time.Now()
	now := c.now()
	s.started = true
	s.startClock = now
	s.startMono, s.lastMono = mono, mono
	length := c.cfg.SessionLength.draw(c.rng)
	s.endAt = mono.Add(length)
	if c.cfg.Saturate {
		s.endAt = mono.Add(100 * 365 * 24 * time.Hour)
	}
	s.begin = c.sample(cn, s, "Transaction.Begin", c.keys.stopTxnMask)
	req := startTransactionReq{ConnectorID: cn.id, IDTag: s.idTag, MeterStart: int64(cn.registerWh),
		ReservationID: s.reservationID, Timestamp: c.stamp(now)}
	if c.cfg.OmitReservationID {
		req.ReservationID = nil
	}
	s.startPayload = marshal(req)
	cn.res = nil
	if c.v201 {
		c.start201(cn, s)
	} else {
		c.enqueue(c.startCall(cn, s, false))
	}
	c.ctr.sessionsStarted.Add(1)
	c.setStatus(cn, "Charging")
	c.log.Debug("transaction started", "connector", cn.id, "id_tag", s.idTag, "meter_start", req.MeterStart)
	if c.cfg.Saturate {
		return
	}
	if s.fault != "" {
		// Strike while charging: before the planned end, and before the
		// energy is likely in.
		full := time.Duration(s.targetWh / min(c.cfg.MaxPowerKW*1000, s.evMaxW) * 3600 / c.cfg.TimeScale * float64(time.Second))
		s.faultAt = mono.Add(time.Duration((0.2 + 0.6*c.rng.Float64()) * float64(min(length, full))))
		c.at(s.faultAt, func() { c.strike(cn, s) })
	}
	if every := c.keys.meterEvery; every > 0 {
		s.nextMeter = mono.Add(every)
	}
	c.scheduleTick(cn, s)
}

// startCall sends (or, retrying, resends) the session's StartTransaction.
func (c *Charger) startCall(cn *connector, s *session, retry bool) *outCall {
	return &outCall{
		action:  "StartTransaction",
		tx:      true,
		payload: s.startPayload,
		onResult: func(raw json.RawMessage) {
			var conf startTransactionConf
			if err := json.Unmarshal(raw, &conf); err != nil || conf.TransactionID == nil {
				c.ctr.errors.Add(1)
				c.log.Warn("bad StartTransaction answer", "connector", cn.id, "payload", string(raw))
				return
			}
			if retry {
				if !s.txKnown || *conf.TransactionID != s.txID {
					c.ctr.retryMismatches.Add(1)
					c.ctr.errors.Add(1)
					c.log.Error("retried StartTransaction got another transaction id", "connector", cn.id, "first", s.txID, "retry", *conf.TransactionID)
				}
				return
			}
			s.txID, s.txKnown = *conf.TransactionID, true
			if s.retryStart && !s.retried {
				s.retried = true
				c.pushFront(c.startCall(cn, s, true))
			}
			if conf.IDTagInfo.Status != "Accepted" {
				s.refused = true
				c.refused("start", "StartTransaction answered idTagInfo "+string(conf.IDTagInfo.Status))
			}
			if conf.IDTagInfo.Status != "Accepted" && cn.sess == s && !s.ended && c.keys.bool("StopTransactionOnInvalidId") {
				c.log.Info("transaction not authorized; stopping", "connector", cn.id, "tx", s.txID, "status", conf.IDTagInfo.Status)
				c.endSession(cn, s, "DeAuthorized")
			}
		},
		onError: func(err error) {
			c.log.Warn("StartTransaction failed for good; session abandoned", "connector", cn.id, "err", err)
			if cn.sess == s && !s.ended {
				s.ended = true
				c.setStatus(cn, "Finishing")
				c.after(c.cfg.FinishingTime.draw(c.rng), func() { c.unplug(cn, s) })
			}
		},
	}
}

// scheduleTick sets the session's next meter tick.
func (c *Charger) scheduleTick(cn *connector, s *session) {
	d := c.keys.meterEvery
	if d <= 0 {
		d = max(s.endAt.Sub(s.startMono)/20, time.Millisecond)
	}
	at := time.Now().Add(d)
	if !s.nextMeter.IsZero() && s.nextMeter.Before(at) && s.nextMeter.After(time.Now()) {
		at = s.nextMeter
	}
	if at.After(s.endAt) {
		at = s.endAt
	}
	s.tickGen++
	gen := s.tickGen
	c.at(at, func() {
		if gen == s.tickGen {
			c.tick(cn, s)
		}
	})
}

// tick advances the battery, sends MeterValues when due, and ends the
// session when the driver's energy is in, the battery is full or time is up.
func (c *Charger) tick(cn *connector, s *session) {
	if cn.sess != s || s.ended {
		return
	}
	now := time.Now()
	c.advance(cn, s, now)
	if s.fault != "" && !now.Before(s.faultAt) {
		// The fault was due while this tick waited: it comes first.
		c.strike(cn, s)
		if cn.sess != s || s.ended {
			return
		}
	}
	if every := c.keys.meterEvery; every > 0 && !s.nextMeter.IsZero() && !now.Before(s.nextMeter) {
		for !now.Before(s.nextMeter) {
			s.nextMeter = s.nextMeter.Add(every)
		}
		c.queueMeterValues(cn, s, "Sample.Periodic")
	}
	if s.deliveredWh >= s.targetWh-0.5 || s.soc >= 99.95 || !now.Before(s.endAt) {
		c.endSession(cn, s, s.reason)
		return
	}
	c.scheduleTick(cn, s)
}

// queueMeterValues queues a MeterValues with a sample taken now.
func (c *Charger) queueMeterValues(cn *connector, s *session, context string) {
	mv := c.sample(cn, s, context, c.keys.sampledMask)
	c.enqueue(c.meterValuesCall(cn, s, mv, context == "Trigger"))
}

func (c *Charger) meterValuesCall(cn *connector, s *session, mv meterValue, triggered bool) *outCall {
	if c.v201 {
		if s != nil && s.charging() {
			return c.updated201(cn, s, mv, triggered)
		}
		return &outCall{action: "MeterValues", triggered: triggered,
			payload: marshal(ocpp201.MeterValuesReq{EVSEID: cn.id, MeterValue: meterValues201(mv)})}
	}
	return &outCall{
		action:    "MeterValues",
		tx:        s != nil && !triggered,
		triggered: triggered,
		build: func() ([]byte, bool) {
			req := meterValuesReq{ConnectorID: cn.id, MeterValue: []meterValue{mv}}
			if s != nil {
				req.TransactionID = s.txIDPtr()
			}
			return marshal(req), true
		},
	}
}

// saturationCall returns the next back-to-back MeterValues of the load
// benchmark, starting the transaction first if needed.
func (c *Charger) saturationCall() *outCall {
	cn := c.connectors[1]
	s := cn.sess
	if s == nil {
		// Each charger presents its own card: one card charging at two
		// chargers at once is refused (ConcurrentTx) by a strict system.
		tag := c.cfg.IDTags[0]
		if len(c.id) <= 20 {
			tag = c.id
		}
		if !c.free(cn, tag) {
			return nil
		}
		c.beginSession(cn, tag, true)
		if len(c.queue) == 0 {
			return nil
		}
		return c.nextCall()
	}
	if !s.txKnown || s.ended {
		return nil
	}
	if every := c.cfg.SaturateInterval; every > 0 {
		now := time.Now()
		if c.nextSaturate.After(now) {
			c.wakeAt(c.nextSaturate)
			return nil
		}
		if c.nextSaturate.IsZero() {
			// Spread the fleet's first calls over one interval.
			c.nextSaturate = now.Add(time.Duration(c.rng.Int64N(int64(every))))
			c.wakeAt(c.nextSaturate)
			return nil
		}
		c.nextSaturate = c.nextSaturate.Add(every)
		if c.nextSaturate.Before(now) {
			c.nextSaturate = now // fell behind: no burst to catch up
		}
	}
	c.advance(cn, s, time.Now())
	return c.meterValuesCall(cn, s, c.sample(cn, s, "Sample.Periodic", c.keys.sampledMask), false)
}

// endSession stops the transaction with reason: StopTransaction with the
// Transaction.Begin and Transaction.End samples goes into the queue, and the
// driver unplugs after FinishingTime.
func (c *Charger) endSession(cn *connector, s *session, reason string) {
	if s.ended || !s.started {
		return
	}
	c.advance(cn, s, time.Now())
	s.ended = true
	s.powerW = 0
	req := stopTransactionReq{
		MeterStop: int64(cn.registerWh),
		Timestamp: c.stamp(c.now()),
		Reason:    reason,
	}
	if reason == "Local" || reason == "DeAuthorized" {
		req.IDTag = s.idTag
	}
	var end *meterValue
	if c.keys.stopTxnMask != 0 {
		e := c.sample(cn, s, "Transaction.End", c.keys.stopTxnMask)
		end = &e
		req.TransactionData = []meterValue{s.begin, e}
	}
	if c.v201 {
		c.ended201(cn, s, reason, end)
	} else {
		c.enqueue(&outCall{
			action: "StopTransaction",
			tx:     true,
			build: func() ([]byte, bool) {
				if !s.txKnown {
					c.log.Warn("dropping StopTransaction of a transaction that never got an id", "connector", cn.id)
					return nil, false
				}
				req.TransactionID = s.txID
				return marshal(req), true
			},
			onResult: func(json.RawMessage) {
				// Completed means charged: a session refused at start, or
				// one that delivered nothing, is not.
				if !s.refused && s.deliveredWh >= 1 {
					c.ctr.sessionsCompleted.Add(1)
				}
			},
		})
	}
	c.log.Debug("transaction stopped", "connector", cn.id, "tx", s.txID, "reason", reason,
		"kwh", math.Round(s.deliveredWh)/1000)
	if cn.sess == s {
		c.setStatus(cn, "Finishing")
		c.after(c.cfg.FinishingTime.draw(c.rng), func() { c.unplug(cn, s) })
	}
}

// unplug ends the session on the connector: the driver has left.
func (c *Charger) unplug(cn *connector, s *session) {
	if cn.sess != s {
		return
	}
	cn.sess = nil
	cn.dropProfiles(func(p *chargingProfile) bool { return p.ChargingProfilePurpose == "TxProfile" })
	c.applyPendingAvailability(cn)
	c.setStatus(cn, c.idleStatus(cn))
	c.scheduleIdle(cn)
}

// applyPendingAvailability carries out a ChangeAvailability that was
// Scheduled until the connector was free.
func (c *Charger) applyPendingAvailability(cn *connector) {
	if cn.pendingInoperative {
		cn.pendingInoperative = false
		cn.operative = false
	}
	if cp := c.connectors[0]; cp.pendingInoperative {
		for _, o := range c.connectors[1:] {
			if o.sess != nil {
				return
			}
		}
		cp.pendingInoperative = false
		cp.operative = false
		c.setStatus(cp, "Unavailable")
		for _, o := range c.connectors[1:] {
			if o != cn {
				c.setStatus(o, c.idleStatus(o))
			}
		}
	}
}

// strike carries out a session's planned fault.
func (c *Charger) strike(cn *connector, s *session) {
	if cn.sess != s || s.ended || s.fault == "" {
		return
	}
	fault := s.fault
	s.fault = ""
	switch fault {
	case "drop":
		c.log.Info("fault: dropping the connection mid-transaction", "connector", cn.id)
		c.backoff = 0
		c.disconnect(false)
	case "offline":
		d := c.cfg.Faults.OfflineTime.draw(c.rng)
		c.log.Info("fault: going offline", "connector", cn.id, "for", d)
		c.holdUntil = time.Now().Add(d)
		c.backoff = 0
		c.disconnect(false)
	case "reboot":
		c.log.Info("fault: rebooting mid-transaction without StopTransaction", "connector", cn.id)
		c.reboot(false)
	}
}

// The charging curve. The EV takes the lowest of the charger's power, its own
// maximum and any charging-profile limit up to 80% state of charge, then
// tapers linearly to a tenth of that at 100%. Power ramps up over the first
// 30 simulated seconds.
func (s *session) powerAt(limitW float64) float64 {
	if s.deliveredWh >= s.targetWh || s.soc >= 100 {
		return 0
	}
	p := min(limitW, s.evMaxW)
	if s.soc > 80 {
		p *= 1 - 0.9*(s.soc-80)/20
	}
	if s.simSecs < 30 {
		p *= 0.1 + 0.9*s.simSecs/30
	}
	return max(p, 0)
}

// advance charges the battery up to now.
func (c *Charger) advance(cn *connector, s *session, now time.Time) {
	if s.ended || !s.started {
		return
	}
	dt := now.Sub(s.lastMono).Seconds() * c.cfg.TimeScale
	s.lastMono = now
	limit := c.limitW(cn, c.now())
	if dt <= 0 {
		s.powerW = s.powerAt(limit)
		return
	}
	steps := int(math.Ceil(dt / 10))
	steps = min(max(steps, 1), 200)
	h := dt / float64(steps)
	before := int64(cn.registerWh)
	for range steps {
		e := s.powerAt(limit) * h / 3600
		if s.deliveredWh+e > s.targetWh {
			e = s.targetWh - s.deliveredWh
		}
		s.deliveredWh += e
		cn.registerWh += e
		s.soc = min(s.soc+e/s.capacityWh*100, 100)
		s.simSecs += h
	}
	s.powerW = s.powerAt(limit)
	c.ctr.energyWh.Add(int64(cn.registerWh) - before)
}

// The measurands the simulated meter supports, as bits of a measurandSet.
const (
	mEnergy measurandSet = 1 << iota
	mPower
	mCurrent
	mVoltage
	mSoC
	mPowerOffered
	mTemperature
)

type measurandSet uint16

var measurandNames = []struct {
	name string
	bit  measurandSet
}{
	{"Energy.Active.Import.Register", mEnergy},
	{"Power.Active.Import", mPower},
	{"Current.Import", mCurrent},
	{"Voltage", mVoltage},
	{"SoC", mSoC},
	{"Power.Offered", mPowerOffered},
	{"Temperature", mTemperature},
}

// sample reads the meter: the energy register in Wh, power in W, DC current
// and voltage, the EV's state of charge and so on, as mask selects.
func (c *Charger) sample(cn *connector, s *session, context string, mask measurandSet) meterValue {
	var powerW, soc, voltage float64
	if s != nil {
		powerW, soc = s.powerW, s.soc
	}
	if powerW > 0 {
		// Meter noise, but never above the limit in force: a charger
		// regulates its output to the profile.
		powerW = min(powerW*(1+0.01*(c.rng.Float64()-0.5)), c.limitW(cn, c.now()))
	}
	voltage = 360 + 0.6*soc + 2*(c.rng.Float64()-0.5)
	current := 0.0
	if powerW > 0 {
		current = powerW / voltage
	}
	mv := meterValue{Timestamp: c.stamp(c.now()), SampledValue: make([]sampledValue, 0, 5)}
	add := func(bit measurandSet, name, value, unit, location string) {
		if mask&bit != 0 {
			mv.SampledValue = append(mv.SampledValue, sampledValue{Value: value, Context: context, Format: "Raw",
				Measurand: name, Location: location, Unit: unit})
		}
	}
	add(mEnergy, "Energy.Active.Import.Register", strconv.FormatInt(int64(cn.registerWh), 10), "Wh", "Outlet")
	add(mPower, "Power.Active.Import", strconv.FormatFloat(math.Round(powerW), 'f', 0, 64), "W", "Outlet")
	add(mCurrent, "Current.Import", strconv.FormatFloat(current, 'f', 1, 64), "A", "Outlet")
	add(mVoltage, "Voltage", strconv.FormatFloat(voltage, 'f', 1, 64), "V", "Outlet")
	if s != nil {
		add(mSoC, "SoC", strconv.FormatFloat(math.Floor(soc), 'f', 0, 64), "Percent", "EV")
	}
	add(mPowerOffered, "Power.Offered", strconv.FormatFloat(math.Round(c.limitW(cn, c.now())), 'f', 0, 64), "W", "Outlet")
	// The StopTransaction schema knows only the 1.6 spelling "Celcius";
	// MeterValues knows both.
	celsius := "Celsius"
	if context == "Transaction.Begin" || context == "Transaction.End" {
		celsius = "Celcius"
	}
	add(mTemperature, "Temperature", strconv.FormatFloat(28+powerW/5000, 'f', 1, 64), celsius, "Body")
	return mv
}
