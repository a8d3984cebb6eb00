// Package ocpp16 is the OCPP 1.6J central system: the messages a charge
// point sends, validated against the official schemas (embedded from
// schemas/, © Open Charge Alliance), and the handlers that turn them into
// calls on the session core.
package ocpp16

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/ratelog"
)

// Subprotocol is the WebSocket subprotocol of OCPP 1.6J.
const Subprotocol = "ocpp1.6"

//go:embed schemas/*.json
var schemaFiles embed.FS

// Schemas returns the embedded official OCPP 1.6 JSON schemas.
func Schemas() fs.FS {
	sub, err := fs.Sub(schemaFiles, "schemas")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// NewValidator compiles the OCPP 1.6 schemas.
func NewValidator() (*ocpp.Validator, error) { return ocpp.NewValidator(Schemas()) }

// DataTransferFunc answers a vendor's DataTransfer.
type DataTransferFunc func(ctx context.Context, chargerID string, req DataTransferReq) (DataTransferConf, error)

// Options configure a Handler.
type Options struct {
	// DataTransfer maps a vendorId to its handler; other vendors are
	// answered UnknownVendorId.
	DataTransfer map[string]DataTransferFunc
	// SignCertificate, when set, takes a charger's CSR; without it the
	// request is recorded and answered Rejected.
	SignCertificate func(ctx context.Context, chargerID, csr string) error
	// AllowPayload, when set, decides whether a free-form payload
	// (DataTransfer) of size bytes is stored; one it refuses is answered
	// Rejected and not stored.
	AllowPayload func(chargerID string, size int) error
}

// Handler serves OCPP 1.6J for the ocpp.Server.
type Handler struct {
	svc  *charging.Service
	v    *ocpp.Validator
	log  *slog.Logger
	opts Options
	// badLogs samples the log lines about a charger's bad or tolerated
	// input (one per charger per 10 s); the CALLERRORs are all counted.
	badLogs *ratelog.Limiter
	viol    Violations
	// gate admits calls: known actions with valid payloads.
	gate *ocpp.Gate
}

// Violations counts what chargers sent against the specification since
// start, for /metrics (the log samples them).
type Violations struct {
	// SchemaRejected are payloads the schema refused (answered with a
	// CALLERROR).
	SchemaRejected atomic.Int64
}

// Violations returns the handler's counts.
func (h *Handler) Violations() *Violations { return &h.viol }

// NewHandler returns a Handler on svc, validating with v.
func NewHandler(svc *charging.Service, v *ocpp.Validator, log *slog.Logger, opts Options) *Handler {
	h := &Handler{svc: svc, v: v, log: log, opts: opts, badLogs: ratelog.New(10*time.Second, 50)}
	h.gate = &ocpp.Gate{V: v, Actions: chargerActions, Central: "central system", Log: log, BadLogs: h.badLogs,
		Record: func(ctx context.Context, chargerID, kind, outcome, example string) {
			svc.RecordViolation(ctx, charging.Violation{ChargerID: chargerID, Kind: kind, Outcome: outcome, Example: example})
		}}
	return h
}

var _ ocpp.Handler = (*Handler)(nil)

// connState is what the handler keeps per connection.
type connState struct {
	strictTimestamps bool
	// lastTx is the core id of lastWireTx, the transaction the charger's
	// last MeterValues named; the next one most often names it too, and
	// takes it without formatting it again (two allocations per
	// MeterValues, #16). Read side only, like every call's handling.
	lastWireTx int64
	lastTx     *string
	// answer is the deferred answer of the MeterValues being written
	// (Conn.Defer), given by meterDone, st.meterValuesDone bound once,
	// on the store's goroutine; h and id serve its errors. The next call
	// is handled only after that answer, so the read side and the store
	// take turns on these fields.
	answer    *ocpp.Deferred
	meterDone func(error)
	h         *Handler
	id        string
	// samples holds the samples of the MeterValues being handled: the
	// read side fills it, and it is emptied once the call is answered
	// (MeterValuesThen uses no sample after done), taking turns like
	// answer.
	samples sampleBuf
	// tx is where the core keeps lastTx (MeterValues.Cache).
	tx charging.TxCache
}

// sampleBuf holds a MeterValues' samples while the core uses them. Two
// allocations of about 600 bytes per MeterValues were a third of what the
// server allocated under saturation (#16); a sync.Pool, put back on the
// store's goroutine and taken on the chargers', cost as much in its
// queues as the allocations had.
type sampleBuf struct {
	samples []charging.MeterSample
	vals    []charging.SampledValue
}

// maxKeptValues bounds the sampled values a connection keeps room for: a
// charger that sent a thousand at once does not keep a buffer that size.
const maxKeptValues = 64

// reset empties b, holding no reference to the frame its strings came
// from.
func (b *sampleBuf) reset() {
	if cap(b.vals) > maxKeptValues || cap(b.samples) > maxKeptValues {
		*b = sampleBuf{}
		return
	}
	clear(b.samples[:cap(b.samples)])
	clear(b.vals[:cap(b.vals)])
	b.samples, b.vals = b.samples[:0], b.vals[:0]
}

// meterValuesDone answers the deferred MeterValues with its write's
// outcome.
func (st *connState) meterValuesDone(err error) {
	d := st.answer
	st.answer = nil
	st.samples.reset()
	if err != nil {
		d.Answer(nil, st.h.callError(st.id, "MeterValues", err))
		return
	}
	d.Answer(emptyObject, nil)
}

// deferredAnswer is decodedMeterValues' result when the store
// answers the call (connState.meterValuesDone).
type deferredAnswer struct{}

// coreTx is CoreTransactionID(tx), the one of the last call when it is
// the same transaction.
func (st *connState) coreTx(tx *int64) *string {
	if tx == nil {
		return nil
	}
	if st.lastTx == nil || st.lastWireTx != *tx {
		st.lastWireTx, st.lastTx = *tx, CoreTransactionID(tx)
	}
	return st.lastTx
}

// Connected loads the charger's tolerance settings. The charger's record
// the handshake read (the connection's Data, from ocpp.Config.Admit or
// Register) is not read again: at a fleet's ramp each query before the
// first BootNotification is read keeps that boot waiting.
func (h *Handler) Connected(ctx context.Context, c *ocpp.Conn) {
	st := &connState{}
	if ch, ok := c.Data.(charging.Charger); ok && ch.ID == c.ID() {
		st.strictTimestamps = ch.StrictTimestamps
	} else if ch, err := h.svc.Store().GetCharger(ctx, c.ID()); err == nil {
		st.strictTimestamps = ch.StrictTimestamps
	}
	if _, err := h.svc.LoadTolerance(ctx, c.ID()); err != nil {
		h.log.Warn("charger's tolerance switch unreadable; it is strict", "charger", c.ID(), "err", err)
	}
	c.Data = st
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

// HandleCall validates and handles one CALL from a charge point.
func (h *Handler) HandleCall(ctx context.Context, c *ocpp.Conn, action string, payload json.RawMessage) (json.RawMessage, *ocpp.Error) {
	st, _ := c.Data.(*connState)
	if st == nil {
		st = &connState{}
	}
	r := request{h: h, ctx: ctx, id: c.ID(), st: st, strict: st.strictTimestamps, action: action, c: c}
	var res any
	var err error
	var mv *MeterValuesReq
	if action == "MeterValues" {
		if mv = meterValuesPool.Get().(*MeterValuesReq); !strictMeterValues(payload, mv) {
			putMeterValues(mv)
			mv = nil
		}
	}
	if mv != nil {
		// Certainly valid: the gate would admit it as it is.
		res, err = r.decodedMeterValues(mv)
	} else {
		if e := h.gate.AdmitFor(ctx, c.ID(), h.svc.Tolerates(c.ID()), action, payload); e != nil {
			return nil, e
		}
		if action == "MeterValues" {
			res, err = r.meterValues(payload)
		} else {
			res, err = r.handle(payload)
		}
	}
	if err != nil {
		return nil, h.callError(c.ID(), action, err)
	}
	switch res.(type) {
	case struct{}:
		return emptyObject, nil
	case deferredAnswer:
		return nil, nil
	}
	out, merr := json.Marshal(res)
	if merr != nil {
		return nil, ocpp.Errorf(ocpp.InternalError, "encode answer: %v", merr)
	}
	return out, nil
}

// callError is the CALLERROR of a call that failed with err: its own
// when err carries one, else the code of the core's error (logged).
func (h *Handler) callError(chargerID, action string, err error) *ocpp.Error {
	var oe *ocpp.Error
	if errors.As(err, &oe) {
		return oe
	}
	code := ErrorCode(err)
	h.log.Error("call failed", "charger", chargerID, "action", action, "err", err)
	return &ocpp.Error{Code: code, Description: err.Error()}
}

// emptyObject is the answer of the calls that confirm with no fields. The
// server only copies it into the CALLRESULT.
var emptyObject = json.RawMessage("{}")

// coreErrors maps the core's errors to CALLERROR codes, in one table.
var coreErrors = []struct {
	err  error
	code ocpp.ErrorCode
}{
	{charging.ErrInvalidInput, ocpp.PropertyConstraintViolation},
	{charging.ErrNotFound, ocpp.GenericError},
	{charging.ErrExists, ocpp.GenericError},
	{charging.ErrChargerBlocked, ocpp.SecurityError},
}

// ErrorCode returns the CALLERROR code for an error from the core;
// InternalError for anything unmapped (a store failure).
func ErrorCode(err error) ocpp.ErrorCode {
	for _, m := range coreErrors {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return ocpp.InternalError
}

// request is one call being handled.
type request struct {
	h      *Handler
	ctx    context.Context
	id     string
	st     *connState
	strict bool
	action string
	c      *ocpp.Conn
}

// meterValues handles a MeterValues. It is a function of its own, called
// before handle's switch, because handle's frame holds every message's
// locals (2 KB): on the busiest path that was 2 KB more of a goroutine's
// stack, and the stacks of the calls waiting for their commit are most of
// a busy charger's memory.
//
//go:noinline
func (r *request) meterValues(payload json.RawMessage) (any, error) {
	m := meterValuesPool.Get().(*MeterValuesReq)
	if err := decodeMeterValues(payload, m); err != nil {
		putMeterValues(m)
		return nil, err
	}
	return r.decodedMeterValues(m)
}

// decodedMeterValues handles the MeterValues decoded in m, a
// MeterValuesReq of meterValuesPool that it returns there.
//
//go:noinline
func (r *request) decodedMeterValues(m *MeterValuesReq) (any, error) {
	buf := &r.st.samples
	samples, err := r.samples(m.MeterValue, buf)
	connector, tx := m.ConnectorID, r.st.coreTx(m.TransactionID)
	putMeterValues(m)
	if err != nil {
		buf.reset()
		return nil, err
	}
	mv := charging.MeterValues{ChargerID: r.id, ConnectorID: connector, TransactionID: tx, Samples: samples, Cache: &r.st.tx}
	if tx != nil && r.c != nil {
		if d := r.c.Defer(); d != nil {
			// The store answers once the samples are durable.
			st := r.st
			if st.meterDone == nil {
				st.h, st.id, st.meterDone = r.h, r.id, st.meterValuesDone
			}
			st.answer = d
			r.h.svc.MeterValuesThen(r.ctx, mv, st.meterDone)
			return deferredAnswer{}, nil
		}
	}
	err = r.h.svc.MeterValues(r.ctx, mv)
	buf.reset()
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (r *request) handle(payload json.RawMessage) (any, error) {
	svc := r.h.svc
	switch r.action {
	case "BootNotification":
		var m BootNotificationReq
		if err := decode(payload, &m); err != nil {
			return nil, err
		}
		serial := m.ChargePointSerialNumber
		if serial == "" {
			serial = m.ChargeBoxSerialNumber
		}
		res, err := svc.Boot(r.ctx, charging.Boot{
			ChargerID: r.id, Vendor: m.ChargePointVendor, Model: m.ChargePointModel,
			SerialNumber: serial, FirmwareVersion: m.FirmwareVersion, ICCID: m.Iccid,
			IMSI: m.Imsi, MeterType: m.MeterType, MeterSerial: m.MeterSerialNumber,
		})
		if err != nil {
			return nil, err
		}
		return BootNotificationConf{Status: string(res.Status), CurrentTime: formatTime(res.CurrentTime), Interval: int(res.Interval / time.Second)}, nil

	case "Heartbeat":
		now, err := svc.Heartbeat(r.ctx, r.id)
		if err != nil {
			return nil, err
		}
		return HeartbeatConf{CurrentTime: formatTime(now)}, nil

	case "StatusNotification":
		var m StatusNotificationReq
		if err := decode(payload, &m); err != nil {
			return nil, err
		}
		var at time.Time
		if m.Timestamp != "" {
			t, err := r.timestamp("timestamp", m.Timestamp)
			if err != nil {
				return nil, err
			}
			at = t
		}
		avail, state := ConnectorSplit(m.Status)
		_, err := svc.StatusNotification(r.ctx, charging.Connector{
			ChargerID: r.id, ConnectorID: m.ConnectorID, Availability: avail, State: state,
			ErrorCode: m.ErrorCode, Info: m.Info, VendorID: m.VendorID, VendorErrorCode: m.VendorErrorCode,
			StatusAt: at,
		})
		if err != nil {
			return nil, err
		}
		return struct{}{}, nil

	case "Authorize":
		var m AuthorizeReq
		if err := decode(payload, &m); err != nil {
			return nil, err
		}
		info, err := svc.Authorize(r.ctx, r.id, m.IDTag)
		if err != nil {
			return nil, err
		}
		return AuthorizeConf{IDTagInfo: tagInfo(info)}, nil

	case "StartTransaction":
		var m StartTransactionReq
		if err := decode(payload, &m); err != nil {
			return nil, err
		}
		ts, err := r.timestamp("timestamp", m.Timestamp)
		if err != nil {
			return nil, err
		}
		res, err := svc.StartTransaction(r.ctx, charging.StartRequest{
			ChargerID: r.id, ConnectorID: m.ConnectorID, IDTag: m.IDTag,
			MeterStartWh: m.MeterStart, ReservationID: m.ReservationID, Timestamp: ts,
			Key: startKey(m, ts),
		})
		if err != nil {
			return nil, err
		}
		tx, err := WireTransactionID(res.Session.TransactionID)
		if err != nil {
			return nil, fmt.Errorf("start transaction at %s/%d: %w", r.id, m.ConnectorID, err)
		}
		return StartTransactionConf{IDTagInfo: tagInfo(res.IDTagInfo), TransactionID: tx}, nil

	case "MeterValues":
		return r.meterValues(payload)

	case "StopTransaction":
		var m StopTransactionReq
		if err := decode(payload, &m); err != nil {
			return nil, err
		}
		ts, err := r.timestamp("timestamp", m.Timestamp)
		if err != nil {
			return nil, err
		}
		samples, err := r.samples(m.TransactionData, nil)
		if err != nil {
			return nil, err
		}
		status, reason := StopStatus(m.Reason)
		res, err := svc.StopTransaction(r.ctx, charging.StopRequest{
			ChargerID: r.id, TransactionID: strconv.FormatInt(m.TransactionID, 10), IDTag: m.IDTag, MeterStopWh: m.MeterStop,
			Timestamp: ts, Status: status, Reason: reason, TransactionData: samples, Payload: payload,
		})
		if err != nil {
			return nil, err
		}
		var conf StopTransactionConf
		if res.IDTagInfo != nil {
			info := tagInfo(*res.IDTagInfo)
			conf.IDTagInfo = &info
		}
		return conf, nil

	case "DataTransfer":
		var m DataTransferReq
		if err := decode(payload, &m); err != nil {
			return nil, err
		}
		if allow := r.h.opts.AllowPayload; allow != nil {
			if err := allow(r.id, len(payload)); err != nil {
				r.h.log.Debug("DataTransfer dropped", "charger", r.id, "vendor", m.VendorID, "reason", err)
				return DataTransferConf{Status: "Rejected"}, nil
			}
		}
		if err := svc.RecordEvent(r.ctx, r.id, charging.EventDataTransfer, payload); err != nil {
			return nil, err
		}
		if fn, ok := r.h.opts.DataTransfer[m.VendorID]; ok {
			return fn(r.ctx, r.id, m)
		}
		return DataTransferConf{Status: "UnknownVendorId"}, nil

	case "DiagnosticsStatusNotification", "FirmwareStatusNotification", "SecurityEventNotification",
		"SignedFirmwareStatusNotification", "LogStatusNotification":
		if err := svc.RecordEvent(r.ctx, r.id, r.action, payload); err != nil {
			return nil, err
		}
		return struct{}{}, nil

	case "SignCertificate":
		if err := svc.RecordEvent(r.ctx, r.id, charging.EventSignCertificate, payload); err != nil {
			return nil, err
		}
		if r.h.opts.SignCertificate == nil {
			r.h.log.Warn("SignCertificate rejected: no certificate authority is configured", "charger", r.id)
			return SignCertificateConf{Status: "Rejected"}, nil
		}
		var m struct {
			CSR string `json:"csr"`
		}
		if err := decode(payload, &m); err != nil {
			return nil, err
		}
		if err := r.h.opts.SignCertificate(r.ctx, r.id, m.CSR); err != nil {
			r.h.log.Warn("SignCertificate rejected", "charger", r.id, "err", err)
			return SignCertificateConf{Status: "Rejected"}, nil
		}
		return SignCertificateConf{Status: "Accepted"}, nil
	}
	return nil, ocpp.Errorf(ocpp.NotSupported, "%s is not supported", r.action)
}

// decode reads a payload the schema has already accepted.
func decode(payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return ocpp.Errorf(ocpp.TypeConstraintViolation, "%v", err)
	}
	return nil
}

// timestamp parses an OCPP timestamp under the charger's tolerance: a
// timestamp without a zone is read as UTC and logged, or refused for a
// charger in strict mode.
func (r *request) timestamp(field, s string) (time.Time, error) {
	t, zoned, err := ocpp.ParseTimestamp(s)
	if err != nil {
		return time.Time{}, ocpp.Errorf(ocpp.PropertyConstraintViolation, "%s: %v", field, err)
	}
	if !zoned {
		v := charging.Violation{ChargerID: r.id, Kind: "timestamp-without-zone", Outcome: charging.ViolationTolerated, Example: r.action + " " + field + "=" + s}
		if r.strict {
			v.Outcome = charging.ViolationRefused
			r.h.svc.RecordViolation(r.ctx, v)
			return time.Time{}, ocpp.Errorf(ocpp.PropertyConstraintViolation, "%s %q has no time zone (this charger is in strict mode)", field, s)
		}
		// Read as UTC; the core counts it and samples the log.
		r.h.svc.RecordViolation(r.ctx, v)
	}
	return t, nil
}

// samples converts mvs, into buf's arrays when buf is not nil (growing
// them as needed).
func (r *request) samples(mvs []MeterValue, buf *sampleBuf) ([]charging.MeterSample, error) {
	total := 0
	for _, mv := range mvs {
		total += len(mv.SampledValue)
	}
	var out []charging.MeterSample
	var vals []charging.SampledValue
	if buf != nil {
		if cap(buf.samples) < len(mvs) {
			buf.samples = make([]charging.MeterSample, 0, len(mvs))
		}
		if cap(buf.vals) < total {
			buf.vals = make([]charging.SampledValue, total)
		}
		out, vals = buf.samples[:0], buf.vals[:total]
	} else {
		out = make([]charging.MeterSample, 0, len(mvs))
		// One array holds every sample's values: one allocation, not one
		// per sample.
		vals = make([]charging.SampledValue, total)
	}
	for i, mv := range mvs {
		// The common case, a zoned timestamp, needs no field name.
		ts, zoned, err := ocpp.ParseTimestamp(mv.Timestamp)
		if err != nil || !zoned {
			ts, err = r.timestamp(fmt.Sprintf("meterValue[%d].timestamp", i), mv.Timestamp)
		}
		if err != nil {
			return nil, err
		}
		n := len(mv.SampledValue)
		s := charging.MeterSample{Timestamp: ts, Values: vals[:n:n]}
		vals = vals[n:]
		for j, sv := range mv.SampledValue {
			s.Values[j] = ConvertSampledValue(sv)
		}
		out = append(out, s)
	}
	return out, nil
}

func tagInfo(i charging.IDTagInfo) IDTagInfo {
	out := IDTagInfo{Status: string(i.Status), ParentIDTag: i.ParentID}
	if i.ExpiresAt != nil {
		out.ExpiryDate = formatTime(*i.ExpiresAt)
	}
	return out
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
