package ocpp201

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/ratelog"
)

// Handler serves OCPP 2.0.1 for the ocpp.Server: every message a charging
// station sends is validated against its official schema, then handled or
// recorded as a charger event.
type Handler struct {
	svc  *charging.Service
	v    *ocpp.Validator
	log  *slog.Logger
	gate *ocpp.Gate
	// booted hears each accepted BootNotification (after its answer is
	// decided; see AfterBoot).
	booted func(chargerID string)
	// txs keeps each open transaction's state as last stored, for the
	// connection that stored it (transaction.go).
	txs txCache
}

// AfterBoot makes f hear each accepted BootNotification once its answer
// is written; it runs on the connection's reading goroutine and must not
// block (the server starts the device model request from it).
func (h *Handler) AfterBoot(f func(chargerID string)) { h.booted = f }

// NewHandler returns a Handler on svc, validating with v (NewValidator).
func NewHandler(svc *charging.Service, v *ocpp.Validator, log *slog.Logger) *Handler {
	return &Handler{svc: svc, v: v, log: log, gate: &ocpp.Gate{V: v, Actions: stationActions, Central: "CSMS", Log: log,
		BadLogs: ratelog.New(10*time.Second, 50),
		// Each refusal, and each deviation a tolerated station gets
		// through, is in the station's tolerance log, as for 1.6.
		Record: func(ctx context.Context, chargerID, kind, outcome, example string) {
			svc.RecordViolation(ctx, charging.Violation{ChargerID: chargerID, Kind: kind, Outcome: outcome, Example: example})
		}}}
}

var _ ocpp.Handler = (*Handler)(nil)

// CountRejections makes payloads the schema refuses count in n (the
// server's one violations counter, shared with 1.6).
func (h *Handler) CountRejections(n *atomic.Int64) { h.gate.Rejected = n }

// stationActions are the messages a charging station sends in 2.0.1, each
// with what it does here. Recorded ones are kept as charger events (kind =
// action) and answered with the empty or fixed response below.
var stationActions = map[string]bool{
	"BootNotification": true, "Heartbeat": true, "StatusNotification": true, "Authorize": true,
	"TransactionEvent": true, "MeterValues": true, "DataTransfer": true,
	"Get15118EVCertificate": true, "GetCertificateStatus": true,
	"NotifyReport": true, "NotifyEvent": true, "NotifyMonitoringReport": true, "NotifyChargingLimit": true,
	"NotifyEVChargingNeeds": true, "NotifyEVChargingSchedule": true, "ReportChargingProfiles": true,
	"ReservationStatusUpdate": true, "SecurityEventNotification": true, "SignCertificate": true,
	"FirmwareStatusNotification": true, "LogStatusNotification": true, "PublishFirmwareStatusNotification": true,
	"NotifyCustomerInformation": true, "NotifyDisplayMessages": true, "ClearedChargingLimit": true,
}

// recordedAnswers are the fixed answers of the messages that are recorded
// as events; those not listed are answered {}.
var recordedAnswers = map[string]any{
	// chargebridge computes no schedule from the EV's needs yet.
	"NotifyEVChargingNeeds":    map[string]string{"status": "Rejected"},
	"NotifyEVChargingSchedule": map[string]string{"status": "Accepted"},
	// No certificate authority signs 2.0.1 CSRs yet.
	"SignCertificate": map[string]string{"status": "Rejected"},
}

// Connected logs the connection.
func (h *Handler) Connected(ctx context.Context, c *ocpp.Conn) {
	h.log.Info("charger connected", "charger", c.ID(), "remote", c.RemoteAddr(), "protocol", c.Protocol())
}

// Disconnected logs the end of a connection.
func (h *Handler) Disconnected(c *ocpp.Conn) {
	h.log.Info("charger disconnected", "charger", c.ID())
}

// HandleResult logs an answer that came after its call gave up.
func (h *Handler) HandleResult(c *ocpp.Conn, f ocpp.Frame) {
	h.log.Info("late answer from charger ignored", "charger", c.ID(), "id", f.ID)
}

// HandleCall validates and handles one CALL from a charging station.
func (h *Handler) HandleCall(ctx context.Context, c *ocpp.Conn, action string, payload json.RawMessage) (json.RawMessage, *ocpp.Error) {
	if e := h.gate.AdmitFor(ctx, c.ID(), h.svc.Tolerates(c.ID()), action, payload); e != nil {
		return nil, e
	}
	res, err := h.handle(ctx, c, action, payload)
	if b, ok := res.(BootNotificationConf); ok && b.Status == string(charging.BootAccepted) && h.booted != nil {
		id := c.ID()
		c.AfterAnswer(func() { h.booted(id) })
	}
	if err != nil {
		var oe *ocpp.Error
		if errors.As(err, &oe) {
			return nil, oe
		}
		h.log.Error("call failed", "charger", c.ID(), "action", action, "err", err)
		return nil, &ocpp.Error{Code: errorCode(err), Description: err.Error()}
	}
	out, merr := json.Marshal(res)
	if merr != nil {
		return nil, ocpp.Errorf(ocpp.InternalError, "encode answer: %v", merr)
	}
	return out, nil
}

// errorCode maps the core's errors to CALLERROR codes.
func errorCode(err error) ocpp.ErrorCode {
	switch {
	case errors.Is(err, charging.ErrInvalidInput):
		return ocpp.PropertyConstraintViolation
	case errors.Is(err, charging.ErrNotFound), errors.Is(err, charging.ErrExists):
		return ocpp.GenericError
	case errors.Is(err, charging.ErrChargerBlocked):
		return ocpp.SecurityError
	}
	return ocpp.InternalError
}

// Decode reads a payload already validated against action's schema into
// v. A value the schema allows but Go cannot hold (a timestamp without a
// zone, a number beyond int64) is a PropertyConstraintViolation.
func Decode(payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return ocpp.Errorf(ocpp.PropertyConstraintViolation, "%v", err)
	}
	return nil
}

func (h *Handler) handle(ctx context.Context, c *ocpp.Conn, action string, payload []byte) (any, error) {
	id := c.ID()
	svc := h.svc
	switch action {
	case "BootNotification":
		var m BootNotificationReq
		if err := Decode(payload, &m); err != nil {
			return nil, err
		}
		b := charging.Boot{ChargerID: id, Vendor: m.ChargingStation.VendorName, Model: m.ChargingStation.Model,
			SerialNumber: m.ChargingStation.SerialNumber, FirmwareVersion: m.ChargingStation.FirmwareVersion}
		if md := m.ChargingStation.Modem; md != nil {
			b.ICCID, b.IMSI = md.ICCID, md.IMSI
		}
		res, err := svc.Boot(ctx, b)
		if err != nil {
			return nil, err
		}
		return BootNotificationConf{Status: string(res.Status), CurrentTime: res.CurrentTime.UTC(), Interval: int(res.Interval / time.Second)}, nil

	case "Heartbeat":
		now, err := svc.Heartbeat(ctx, id)
		if err != nil {
			return nil, err
		}
		return HeartbeatConf{CurrentTime: now.UTC()}, nil

	case "StatusNotification":
		var m StatusNotificationReq
		if err := Decode(payload, &m); err != nil {
			return nil, err
		}
		// Each connector of an EVSE keeps its own status (the core
		// folds them into the EVSE's, charging.FoldEVSE).
		avail, state := ConnectorSplit(m.ConnectorStatus)
		if state == charging.StateOccupied && h.inUse(ctx, id, m.EVSEID, m.ConnectorID) {
			// Occupied says less than the transaction's chargingState,
			// which set the status in force: keep it.
			return struct{}{}, nil
		}
		if _, err := svc.StatusNotification(ctx, charging.Connector{
			ChargerID: id, ConnectorID: m.EVSEID, EVSEConnectorID: m.ConnectorID, Availability: avail, State: state, StatusAt: m.Timestamp,
		}); err != nil {
			return nil, err
		}
		return struct{}{}, nil

	case "Authorize":
		var m AuthorizeReq
		if err := Decode(payload, &m); err != nil {
			return nil, err
		}
		info, err := svc.AuthorizeTyped(ctx, id, m.IDToken.IDToken, charging.IDTokenType(m.IDToken.Type))
		if err != nil {
			return nil, err
		}
		return AuthorizeConf{IDTokenInfo: tokenInfo(info)}, nil

	case "TransactionEvent":
		var m TransactionEventReq
		if err := decodeTransactionEvent(payload, &m); err != nil {
			return nil, err
		}
		return h.transactionEvent(ctx, c, m, payload)

	case "MeterValues":
		var m MeterValuesReq
		if err := Decode(payload, &m); err != nil {
			return nil, err
		}
		if err := svc.MeterValues(ctx, charging.MeterValues{ChargerID: id, ConnectorID: m.EVSEID, Samples: Samples(m.MeterValue)}); err != nil {
			return nil, err
		}
		return struct{}{}, nil

	case "DataTransfer":
		if err := svc.RecordEvent(ctx, id, charging.EventDataTransfer, payload); err != nil {
			return nil, err
		}
		return DataTransferConf{Status: "UnknownVendorId"}, nil

	case "Get15118EVCertificate", "GetCertificateStatus":
		if err := svc.RecordEvent(ctx, id, action, payload); err != nil {
			return nil, err
		}
		return noCertificateProvider(action), nil

	case "NotifyReport":
		// Kept once: folded into the charger's device model, not also as
		// a raw event (a base report runs to thousands of variables).
		if err := h.notifyReport(ctx, id, payload); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	}
	if err := svc.RecordEvent(ctx, id, action, payload); err != nil {
		return nil, err
	}
	if a, ok := recordedAnswers[action]; ok {
		return a, nil
	}
	return struct{}{}, nil
}

// evseConnectors are the stored connectors of a station's EVSE.
func (h *Handler) evseConnectors(ctx context.Context, chargerID string, evse int) []charging.Connector {
	c, err := h.svc.Store().GetCharger(ctx, chargerID)
	if err != nil {
		return nil
	}
	for _, e := range c.Connectors {
		if e.ConnectorID == evse {
			return e.EVSEConnectors
		}
	}
	return nil
}

// inUse reports whether the connector's status in force is one a
// transaction set (Charging, SuspendedEV, SuspendedEVSE, Finishing).
func (h *Handler) inUse(ctx context.Context, chargerID string, evse, connector int) bool {
	for _, k := range h.evseConnectors(ctx, chargerID, evse) {
		if k.EVSEConnectorID == connector {
			switch k.State {
			case charging.StateCharging, charging.StateSuspendedEV, charging.StateSuspendedEVSE, charging.StateFinishing:
				return true
			}
		}
	}
	return false
}

// pluggedConnector is the connector of an EVSE a transaction that names
// none runs on (connectorId is optional in TransactionEvent): the one
// connector of the EVSE that is occupied, else connector 1.
func (h *Handler) pluggedConnector(ctx context.Context, chargerID string, evse int) int {
	found := 0
	for _, k := range h.evseConnectors(ctx, chargerID, evse) {
		if k.State == charging.StateOccupied {
			if found != 0 {
				return 1 // two cables plugged in: cannot tell
			}
			found = k.EVSEConnectorID
		}
	}
	return max(found, 1)
}

// tokenInfo is the 2.0.1 idTokenInfo of the core's answer; the statuses
// the core gives (Accepted, Blocked, Expired, Invalid, ConcurrentTx) are
// 2.0.1 statuses too.
func tokenInfo(info charging.IDTagInfo) IDTokenInfo {
	out := IDTokenInfo{Status: string(info.Status)}
	if info.ExpiresAt != nil {
		t := info.ExpiresAt.UTC()
		out.CacheExpiryDateTime = &t
	}
	if info.ParentID != "" {
		out.GroupIDToken = &IDToken{IDToken: info.ParentID, Type: "Central"}
	}
	return out
}

// noCertificateProvider answers Get15118EVCertificate or
// GetCertificateStatus while chargebridge has no certificate provider.
func noCertificateProvider(action string) CertificateConf {
	conf := CertificateConf{Status: "Failed", StatusInfo: &StatusInfo{ReasonCode: "NoProvider",
		AdditionalInfo: "no certificate provider is configured"}}
	if action == "Get15118EVCertificate" {
		empty := ""
		conf.ExiResponse = &empty
	}
	return conf
}
