package sim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp201"
)

// OCPP 2.0.1 stations (Config.Protocol "2.0.1"). The station's behaviour is
// the 1.6 charger's — the same battery, sessions, faults and queue — with
// 2.0.1 messages on the wire: BootNotification with chargingStation,
// StatusNotification per EVSE (its connector 1), Authorize with an IdToken,
// TransactionEvent Started / Updated (the periodic meter values) / Ended
// with the station's own transactionId and a seqNo, and the CSMS's
// commands translated to the 1.6 charger's handlers and their answers
// translated back. Each connector of the simulator is one EVSE with one
// connector, unless Config.OneEVSE makes them the connectors of EVSE 1.

// Subprotocol201 is the WebSocket subprotocol of a 2.0.1 station.
const Subprotocol201 = "ocpp2.0.1"

func (c *Charger) subprotocol() string {
	if c.v201 {
		return Subprotocol201
	}
	return Subprotocol
}

// boot201 is the 2.0.1 BootNotification payload.
func (c *Charger) boot201(serial string) []byte {
	reason := "PowerUp"
	if c.everRegistered {
		reason = "RemoteReset"
	}
	return marshal(ocpp201.BootNotificationReq{Reason: reason, ChargingStation: ocpp201.ChargingStation{
		SerialNumber: serial, Model: c.cfg.Model, VendorName: c.cfg.Vendor, FirmwareVersion: c.firmware}})
}

// status201 is a 1.6 connector status in 2.0.1 terms: every state of a
// plugged-in connector is Occupied.
func status201(s string) string {
	switch s {
	case "Available", "Reserved", "Unavailable", "Faulted":
		return s
	}
	return "Occupied"
}

// evse201 is the EVSE and the connector within it of a connector.
func (c *Charger) evse201(cn *connector) (evse, connector int) {
	if c.cfg.OneEVSE {
		return 1, cn.id
	}
	return cn.id, 1
}

// connector201 is the simulator's connector number of a 2.0.1 EVSE and
// connector (nil: any of the EVSE's, the first free one), or -1 for none.
func (c *Charger) connector201(evse int, connector *int) int {
	if !c.cfg.OneEVSE {
		if connector != nil && *connector != 1 {
			return -1
		}
		return evse
	}
	if evse != 1 {
		return -1
	}
	if connector != nil {
		return *connector
	}
	for _, cn := range c.connectors[1:] {
		if cn.sess == nil && cn.status == "Available" {
			return cn.id
		}
	}
	return 1
}

func (c *Charger) statusCall201(cn *connector, triggered bool) *outCall {
	if cn.id == 0 {
		return nil // 2.0.1 reports EVSEs' connectors only
	}
	evse, conn := c.evse201(cn)
	req := ocpp201.StatusNotificationReq{Timestamp: c.now().UTC(), ConnectorStatus: status201(cn.status), EVSEID: evse, ConnectorID: conn}
	return &outCall{action: "StatusNotification", triggered: triggered, payload: marshal(req)}
}

func idToken201(tag string) ocpp201.IDToken { return ocpp201.IDToken{IDToken: tag, Type: "ISO14443"} }

// authorize201 is the Authorize payload; authorizeStatus reads either
// version's answer.
func (c *Charger) authorizePayload(tag string) []byte {
	if c.v201 {
		return marshal(ocpp201.AuthorizeReq{IDToken: idToken201(tag)})
	}
	return marshal(authorizeReq{IDTag: tag})
}

func authorizeStatus(raw json.RawMessage) (string, error) {
	var conf struct {
		IDTagInfo   *struct{ Status string } `json:"idTagInfo"`
		IDTokenInfo *struct{ Status string } `json:"idTokenInfo"`
	}
	if err := json.Unmarshal(raw, &conf); err != nil {
		return "", err
	}
	switch {
	case conf.IDTagInfo != nil:
		return conf.IDTagInfo.Status, nil
	case conf.IDTokenInfo != nil:
		return conf.IDTokenInfo.Status, nil
	}
	return "", fmt.Errorf("no idTagInfo")
}

// meterValues201 converts the simulator's samples to 2.0.1's shape: a
// number with its unit of measure.
func meterValues201(mvs ...meterValue) []ocpp201.MeterValue {
	out := make([]ocpp201.MeterValue, 0, len(mvs))
	for _, mv := range mvs {
		t, _, _ := ocpp.ParseTimestamp(mv.Timestamp)
		m := ocpp201.MeterValue{Timestamp: t.UTC(), SampledValue: make([]ocpp201.SampledValue, 0, len(mv.SampledValue))}
		for _, sv := range mv.SampledValue {
			v, err := strconv.ParseFloat(sv.Value, 64)
			if err != nil {
				continue
			}
			unit := sv.Unit
			if unit == "Celcius" {
				unit = "Celsius"
			}
			m.SampledValue = append(m.SampledValue, ocpp201.SampledValue{Value: v, Context: sv.Context, Measurand: sv.Measurand,
				Phase: sv.Phase, Location: sv.Location, UnitOfMeasure: &ocpp201.UnitOfMeasure{Unit: unit}})
		}
		out = append(out, m)
	}
	return out
}

// txEvent builds a TransactionEvent of the session; its seqNo is taken
// when it is built, so that events keep their order through the queue.
func (c *Charger) txEvent(cn *connector, s *session, eventType, trigger string, mvs ...meterValue) ocpp201.TransactionEventReq {
	req := ocpp201.TransactionEventReq{EventType: eventType, Timestamp: c.now().UTC(), TriggerReason: trigger, SeqNo: s.seqNo,
		TransactionInfo: ocpp201.TransactionInfo{TransactionID: s.txID201, ChargingState: "Charging"},
		// Built while the station is offline: sent later, flagged so.
		Offline: !c.online()}
	s.seqNo++
	if len(mvs) > 0 {
		req.MeterValue = meterValues201(mvs...)
	}
	if eventType == "Started" {
		evse, conn := c.evse201(cn)
		req.EVSE = &ocpp201.EVSE{ID: evse, ConnectorID: &conn}
		tok := idToken201(s.idTag)
		req.IDToken = &tok
		if s.reservationID != nil {
			r := int64(*s.reservationID)
			req.ReservationID = &r
		}
		req.TransactionInfo.RemoteStartID = s.remoteStartID
	}
	return req
}

// start201 queues the TransactionEvent Started: the station names its
// transaction itself, so the session has its id at once.
func (c *Charger) start201(cn *connector, s *session) {
	c.txSeq++
	s.txID, s.txKnown = c.txSeq, true
	s.txID201 = fmt.Sprintf("%s-%d-%d", c.id, c.now().UnixMilli(), c.txSeq)
	trigger := "Authorized"
	if s.remote {
		trigger = "RemoteStart"
	}
	req := c.txEvent(cn, s, "Started", trigger, s.begin)
	c.enqueue(&outCall{action: "TransactionEvent", tx: true, payload: marshal(req), onResult: func(raw json.RawMessage) {
		var conf ocpp201.TransactionEventConf
		if err := json.Unmarshal(raw, &conf); err != nil {
			c.ctr.errors.Add(1)
			c.log.Warn("bad TransactionEvent answer", "connector", cn.id, "payload", string(raw))
			return
		}
		if conf.IDTokenInfo != nil && conf.IDTokenInfo.Status != "Accepted" {
			s.refused = true
			c.refused("start", "TransactionEvent Started answered idTokenInfo "+conf.IDTokenInfo.Status)
			if cn.sess == s && !s.ended && c.keys.bool("StopTransactionOnInvalidId") {
				c.endSession(cn, s, "DeAuthorized")
			}
		}
	}})
}

// updated201 is the TransactionEvent Updated carrying a periodic sample.
func (c *Charger) updated201(cn *connector, s *session, mv meterValue, triggered bool) *outCall {
	trigger := "MeterValuePeriodic"
	if triggered {
		trigger = "Trigger"
	}
	req := c.txEvent(cn, s, "Updated", trigger, mv)
	return &outCall{action: "TransactionEvent", tx: !triggered, triggered: triggered, payload: marshal(req)}
}

// stopReason201 is a 1.6 stop reason in 2.0.1's words.
func stopReason201(r string) string {
	switch r {
	case "HardReset":
		return "ImmediateReset"
	case "SoftReset":
		return "Reboot"
	case "UnlockCommand", "":
		return "Other"
	}
	return r
}

// ended201 queues the TransactionEvent Ended with the Transaction.End
// sample.
func (c *Charger) ended201(cn *connector, s *session, reason string, end *meterValue) {
	trigger := "StopAuthorized"
	switch reason {
	case "Remote":
		trigger = "RemoteStop"
	case "EVDisconnected":
		trigger = "EVCommunicationLost"
	case "DeAuthorized":
		trigger = "Deauthorized"
	case "Reboot", "HardReset", "SoftReset":
		trigger = "ResetCommand"
	case "Other", "PowerLoss", "EmergencyStop", "UnlockCommand":
		trigger = "AbnormalCondition"
	}
	var mvs []meterValue
	if end != nil {
		mvs = append(mvs, *end)
	}
	req := c.txEvent(cn, s, "Ended", trigger, mvs...)
	req.TransactionInfo.ChargingState = "Idle"
	req.TransactionInfo.StoppedReason = stopReason201(reason)
	c.enqueue(&outCall{action: "TransactionEvent", tx: true, payload: marshal(req), onResult: func(json.RawMessage) {
		if !s.refused && s.deliveredWh >= 1 {
			c.ctr.sessionsCompleted.Add(1)
		}
	}})
}

// variables201 is the station's device model: what GetVariables reads,
// SetVariables writes and GetBaseReport reports.
type variable201 struct {
	component, name string
	get             func(c *Charger) string
	set             func(c *Charger, v string) (status string, then func())
	writeOnly       bool
}

var variables201 = []variable201{
	{component: "OCPPCommCtrlr", name: "HeartbeatInterval", get: func(c *Charger) string { return strconv.Itoa(c.hbInterval) },
		set: func(c *Charger, v string) (string, func()) {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return "Rejected", nil
			}
			return "Accepted", func() { c.hbInterval = n; c.scheduleHeartbeat() }
		}},
	{component: "SampledDataCtrlr", name: "TxUpdatedInterval", get: func(c *Charger) string { return c.keys.get("MeterValueSampleInterval") },
		set: func(c *Charger, v string) (string, func()) {
			resp, then, e := c.onChangeConfiguration(marshal(map[string]string{"key": "MeterValueSampleInterval", "value": v}))
			var st statusOnly
			_ = json.Unmarshal(marshal(resp), &st)
			if e != nil || st.Status != "Accepted" {
				return "Rejected", nil
			}
			return "Accepted", then
		}},
	{component: "SmartChargingCtrlr", name: "RateUnit", get: func(*Charger) string { return "A,W" }},
	{component: "SmartChargingCtrlr", name: "ProfileStackLevel", get: func(*Charger) string { return "8" }},
	{component: "SecurityCtrlr", name: "BasicAuthPassword", writeOnly: true,
		set: func(c *Charger, v string) (string, func()) {
			_, then, _ := c.onAuthorizationKey(v)
			if then == nil {
				return "Rejected", nil
			}
			return "Accepted", then
		}},
	{component: "DeviceDataCtrlr", name: "ItemsPerMessage", get: func(*Charger) string { return "10" }},
	{component: "EVSE", name: "Power", get: func(c *Charger) string { return strconv.FormatFloat(c.cfg.MaxPowerKW*1000, 'f', 0, 64) }},
}

func findVariable201(component, name string) (*variable201, string) {
	known := false
	for i := range variables201 {
		v := &variables201[i]
		if v.component == component {
			known = true
			if v.name == name {
				return v, ""
			}
		}
	}
	if known {
		return nil, "UnknownVariable"
	}
	return nil, "UnknownComponent"
}

// dispatch201 handles a CSMS command: the ones with a 1.6 counterpart go to
// the 1.6 handler with the payload translated, and the answer comes back in
// 2.0.1 words.
func (c *Charger) dispatch201(action string, payload json.RawMessage) (any, func(), *ocpp.Error) {
	status := func(resp any, then func(), e *ocpp.Error, rename map[string]string) (any, func(), *ocpp.Error) {
		if e != nil {
			return nil, nil, e
		}
		var st statusOnly
		_ = json.Unmarshal(marshal(resp), &st)
		if r, ok := rename[st.Status]; ok {
			st.Status = r
		}
		return st, then, nil
	}
	status3 := func(resp any, then func(), e *ocpp.Error) (any, func(), *ocpp.Error) {
		return status(resp, then, e, nil)
	}
	switch action {
	case "RequestStartTransaction":
		var r ocpp201.RequestStartTransactionReq
		if e := decode(payload, &r); e != nil {
			return nil, nil, e
		}
		req := map[string]any{"idTag": r.IDToken.IDToken}
		if r.EVSEID != nil {
			req["connectorId"] = c.connector201(*r.EVSEID, nil)
		}
		resp, then, e := c.onRemoteStart(marshal(req))
		if then != nil {
			id := r.RemoteStartID
			inner := then
			then = func() { c.remoteStartID = &id; inner(); c.remoteStartID = nil }
		}
		return status(resp, then, e, nil)
	case "RequestStopTransaction":
		var r ocpp201.RequestStopTransactionReq
		if e := decode(payload, &r); e != nil {
			return nil, nil, e
		}
		for _, cn := range c.connectors {
			if s := cn.sess; s.charging() && s.txID201 == r.TransactionID {
				return status3(c.onRemoteStop(marshal(map[string]int{"transactionId": s.txID})))
			}
		}
		return statusOnly{"Rejected"}, nil, nil
	case "ReserveNow":
		var r ocpp201.ReserveNowReq
		if e := decode(payload, &r); e != nil {
			return nil, nil, e
		}
		req := map[string]any{"connectorId": 0, "expiryDate": r.ExpiryDateTime.UTC().Format(time.RFC3339), "idTag": r.IDToken.IDToken, "reservationId": r.ID}
		if r.EVSEID != nil {
			req["connectorId"] = *r.EVSEID
		}
		if r.GroupIDToken != nil {
			req["parentIdTag"] = r.GroupIDToken.IDToken
		}
		return status3(c.onReserveNow(marshal(req)))
	case "CancelReservation":
		return status3(c.onCancelReservation(payload))
	case "UnlockConnector":
		var r ocpp201.UnlockConnectorReq
		if e := decode(payload, &r); e != nil {
			return nil, nil, e
		}
		conn := c.connector201(r.EVSEID, &r.ConnectorID)
		if r.EVSEID < 1 || conn < 1 || conn >= len(c.connectors) {
			return statusOnly{"UnknownConnector"}, nil, nil
		}
		resp, then, e := c.onUnlock(marshal(map[string]int{"connectorId": conn}))
		return status(resp, then, e, map[string]string{"NotSupported": "UnknownConnector"})
	case "Reset":
		var r ocpp201.ResetReq
		if e := decode(payload, &r); e != nil {
			return nil, nil, e
		}
		kind := "Soft"
		if r.Type == "Immediate" {
			kind = "Hard"
		}
		return status3(c.onReset(marshal(map[string]string{"type": kind})))
	case "ChangeAvailability":
		var r ocpp201.ChangeAvailabilityReq
		if e := decode(payload, &r); e != nil {
			return nil, nil, e
		}
		conn := 0
		if r.EVSE != nil {
			conn = r.EVSE.ID
		}
		return status3(c.onChangeAvailability(marshal(map[string]any{"connectorId": conn, "type": r.OperationalStatus})))
	case "SetChargingProfile":
		return c.onSetChargingProfile201(payload)
	case "ClearChargingProfile":
		var r struct {
			ID       *int `json:"chargingProfileId"`
			Criteria *struct {
				EVSEID     *int    `json:"evseId"`
				Purpose    *string `json:"chargingProfilePurpose"`
				StackLevel *int    `json:"stackLevel"`
			} `json:"chargingProfileCriteria"`
		}
		if e := decode(payload, &r); e != nil {
			return nil, nil, e
		}
		req := map[string]any{}
		if r.ID != nil {
			req["id"] = *r.ID
		}
		if cr := r.Criteria; cr != nil {
			if cr.EVSEID != nil {
				req["connectorId"] = *cr.EVSEID
			}
			if cr.Purpose != nil {
				req["chargingProfilePurpose"] = *cr.Purpose
			}
			if cr.StackLevel != nil {
				req["stackLevel"] = *cr.StackLevel
			}
		}
		return status3(c.onClearChargingProfile(marshal(req)))
	case "TriggerMessage":
		var r struct {
			RequestedMessage string        `json:"requestedMessage"`
			EVSE             *ocpp201.EVSE `json:"evse"`
		}
		if e := decode(payload, &r); e != nil {
			return nil, nil, e
		}
		switch r.RequestedMessage {
		case "BootNotification", "Heartbeat", "StatusNotification", "MeterValues":
		default:
			return statusOnly{"NotImplemented"}, nil, nil
		}
		req := map[string]any{"requestedMessage": r.RequestedMessage}
		if r.EVSE != nil {
			req["connectorId"] = r.EVSE.ID
		}
		return status3(c.onTrigger(marshal(req), false))
	case "GetVariables":
		var r ocpp201.GetVariablesReq
		if e := decode(payload, &r); e != nil {
			return nil, nil, e
		}
		out := ocpp201.GetVariablesConf{GetVariableResult: []ocpp201.GetVariableResult{}}
		for _, d := range r.GetVariableData {
			res := ocpp201.GetVariableResult{Component: d.Component, Variable: d.Variable}
			v, why := findVariable201(d.Component.Name, d.Variable.Name)
			switch {
			case v == nil:
				res.AttributeStatus = why
			case v.writeOnly || v.get == nil:
				res.AttributeStatus = "Rejected"
			default:
				val := v.get(c)
				res.AttributeStatus, res.AttributeValue = "Accepted", &val
			}
			out.GetVariableResult = append(out.GetVariableResult, res)
		}
		return out, nil, nil
	case "SetVariables":
		var r ocpp201.SetVariablesReq
		if e := decode(payload, &r); e != nil {
			return nil, nil, e
		}
		out := ocpp201.SetVariablesConf{SetVariableResult: []ocpp201.SetVariableResult{}}
		var thens []func()
		for _, d := range r.SetVariableData {
			res := ocpp201.SetVariableResult{Component: d.Component, Variable: d.Variable}
			v, why := findVariable201(d.Component.Name, d.Variable.Name)
			switch {
			case v == nil:
				res.AttributeStatus = why
			case v.set == nil:
				res.AttributeStatus = "Rejected"
			default:
				st, then := v.set(c, d.AttributeValue)
				res.AttributeStatus = st
				if then != nil {
					thens = append(thens, then)
				}
			}
			out.SetVariableResult = append(out.SetVariableResult, res)
		}
		return out, func() {
			for _, f := range thens {
				f()
			}
		}, nil
	case "GetBaseReport":
		var r struct {
			RequestID  int    `json:"requestId"`
			ReportBase string `json:"reportBase"`
		}
		if e := decode(payload, &r); e != nil {
			return nil, nil, e
		}
		return statusOnly{"Accepted"}, func() { c.notifyReport(r.RequestID) }, nil
	case "ClearCache":
		return statusOnly{"Accepted"}, nil, nil
	case "DataTransfer":
		return statusOnly{"UnknownVendorId"}, nil, nil
	}
	return nil, nil, &ocpp.Error{Code: ocpp.NotSupported, Description: action + " is not supported by this simulated station"}
}

// notifyReport sends the device model in NotifyReport parts of at most
// three variables each (tbc on all but the last), as a GetBaseReport asks.
func (c *Charger) notifyReport(requestID int) {
	type attr struct {
		Type       string `json:"type,omitempty"`
		Value      string `json:"value,omitempty"`
		Mutability string `json:"mutability"`
	}
	type item struct {
		Component         ocpp201.Component `json:"component"`
		Variable          ocpp201.Variable  `json:"variable"`
		VariableAttribute []attr            `json:"variableAttribute"`
	}
	var items []item
	for _, v := range variables201 {
		a := attr{Type: "Actual", Mutability: "ReadOnly"}
		switch {
		case v.writeOnly:
			a.Mutability = "WriteOnly"
		case v.set != nil:
			a.Mutability = "ReadWrite"
		}
		if v.get != nil && !v.writeOnly {
			a.Value = v.get(c)
		}
		items = append(items, item{Component: ocpp201.Component{Name: v.component}, Variable: ocpp201.Variable{Name: v.name}, VariableAttribute: []attr{a}})
	}
	// Each connector's ConnectorType, when configured.
	for i, typ := range c.cfg.ConnectorTypes {
		if i+1 >= len(c.connectors) {
			break
		}
		evse, conn := c.evse201(c.connectors[i+1])
		items = append(items, item{Component: ocpp201.Component{Name: "Connector", EVSE: &ocpp201.EVSE{ID: evse, ConnectorID: &conn}},
			Variable: ocpp201.Variable{Name: "ConnectorType"}, VariableAttribute: []attr{{Type: "Actual", Value: typ, Mutability: "ReadOnly"}}})
	}
	const per = 3
	for seq := 0; seq*per < len(items); seq++ {
		part := items[seq*per : min(len(items), (seq+1)*per)]
		req := map[string]any{"requestId": requestID, "generatedAt": c.now().UTC(), "seqNo": seq, "reportData": part}
		if (seq+1)*per < len(items) {
			req["tbc"] = true
		}
		c.enqueue(&outCall{action: "NotifyReport", triggered: true, payload: marshal(req)})
	}
}

// onSetChargingProfile201 keeps a 2.0.1 profile as the 1.6 charger keeps
// its: the first schedule, the station's transactionId as the session's.
func (c *Charger) onSetChargingProfile201(payload json.RawMessage) (any, func(), *ocpp.Error) {
	var r ocpp201.SetChargingProfileReq
	if e := decode(payload, &r); e != nil {
		return nil, nil, e
	}
	p := r.ChargingProfile
	if len(p.ChargingSchedule) == 0 {
		return statusOnly{"Rejected"}, nil, nil
	}
	sc := p.ChargingSchedule[0]
	prof := map[string]any{"chargingProfileId": p.ID, "stackLevel": p.StackLevel, "chargingProfilePurpose": p.ChargingProfilePurpose,
		"chargingProfileKind": p.ChargingProfileKind, "chargingSchedule": map[string]any{"chargingRateUnit": sc.ChargingRateUnit,
			"chargingSchedulePeriod": sc.ChargingSchedulePeriod}}
	if sc.StartSchedule != nil {
		prof["chargingSchedule"].(map[string]any)["startSchedule"] = sc.StartSchedule.UTC().Format(time.RFC3339)
	}
	if sc.Duration != nil {
		prof["chargingSchedule"].(map[string]any)["duration"] = *sc.Duration
	}
	if p.RecurrencyKind != "" {
		prof["recurrencyKind"] = p.RecurrencyKind
	}
	if p.ValidFrom != nil {
		prof["validFrom"] = p.ValidFrom.UTC().Format(time.RFC3339)
	}
	if p.ValidTo != nil {
		prof["validTo"] = p.ValidTo.UTC().Format(time.RFC3339)
	}
	if p.TransactionID != "" {
		tx := -1 // no such transaction: the 1.6 handler rejects it
		for _, cn := range c.connectors {
			if s := cn.sess; s.charging() && s.txID201 == p.TransactionID {
				tx = s.txID
			}
		}
		prof["transactionId"] = tx
	}
	purpose := strings.TrimSpace(p.ChargingProfilePurpose)
	if purpose == "ChargingStationMaxProfile" {
		prof["chargingProfilePurpose"] = "ChargePointMaxProfile"
	}
	conn := r.EVSEID
	if c.cfg.OneEVSE && conn == 1 {
		// A limit of the EVSE is the limit of its connector in use (the
		// handlers run with mu held).
		for _, cn := range c.connectors[1:] {
			if cn.sess != nil {
				conn = cn.id
				break
			}
		}
	}
	resp, then, e := c.onSetChargingProfile(marshal(map[string]any{"connectorId": conn, "csChargingProfiles": prof}))
	if e != nil {
		return nil, nil, e
	}
	var st statusOnly
	_ = json.Unmarshal(marshal(resp), &st)
	if st.Status != "Accepted" {
		st.Status = "Rejected"
	}
	return st, then, nil
}
