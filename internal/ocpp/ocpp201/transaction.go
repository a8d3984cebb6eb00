package ocpp201

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp16"
)

// DocKindTransaction is the docs kind that keeps what the adapter needs of
// a 2.0.1 transaction between its events: whether its session is open yet,
// the readings and ids an early event brought, and the seqNos applied, so
// that a repeated TransactionEvent is answered without being applied
// twice. The core's transaction id is the station's transactionId itself
// (unique per station, as the core's ids are per charger).
const DocKindTransaction = "ocpp201.transaction"

// txState is a DocKindTransaction document's body.
type txState struct {
	// Opened: the session is opened, which waits for the first event that
	// names an idToken (a 2.0.1 transaction may start at plug-in, before
	// authorization).
	Opened bool `json:"opened,omitempty"`
	// Tx is the core's transaction number of a transaction opened before
	// the core took the station's transactionId as its own (#12); 0 for
	// every other. See coreTx.
	Tx int64 `json:"tx,omitempty"`
	// CoreID is the core's id of a transaction whose station id was taken
	// on this charger (see namespacedTx); "" for every other.
	CoreID string `json:"core_id,omitempty"`
	EVSE   int    `json:"evse"`
	// Connector is the connector within EVSE the transaction runs on, as
	// the first event that named it said (0 until one did).
	Connector   int    `json:"connector,omitempty"`
	StartedAt   string `json:"started_at,omitempty"`
	StartWh     *int64 `json:"start_wh,omitempty"`
	LastWh      *int64 `json:"last_wh,omitempty"`
	Reservation *int64 `json:"reservation_id,omitempty"`
	RemoteStart *int64 `json:"remote_start_id,omitempty"`
	// Upto: every seqNo below it was applied; Above: those applied beyond
	// a gap.
	Upto  int64   `json:"upto"`
	Above []int64 `json:"above,omitempty"`
	Ended bool    `json:"ended,omitempty"`
	// State is the connector state last set from the transaction's
	// chargingState, so that only a change is written.
	State charging.ConnectorState `json:"status,omitempty"`
}

// opened reports whether the transaction's session is open.
func (s *txState) opened() bool { return s.Opened || s.Tx != 0 }

// linked reports whether the core knows the transaction under another id
// than the station's (coreTx).
func (s *txState) linked() bool { return s.Tx != 0 || s.CoreID != "" }

// coreTx is the core's transaction id of the station's transaction txID:
// txID itself; namespacedTx(txID) when that was taken; or, for a
// transaction opened before #12, the number the core gave it then.
func (s *txState) coreTx(txID string) string {
	if s.CoreID != "" {
		return s.CoreID
	}
	if s.Tx != 0 {
		return strconv.FormatInt(s.Tx, 10)
	}
	return txID
}

func (s *txState) applied(seq int64) bool {
	return seq < s.Upto || slices.Contains(s.Above, seq)
}

// mark records seq as applied and reports whether it left a gap.
func (s *txState) mark(seq int64) (gap bool) {
	gap = seq > s.Upto
	if !gap {
		s.Upto = seq + 1
	} else {
		s.Above = append(s.Above, seq)
		slices.Sort(s.Above)
	}
	for len(s.Above) > 0 && s.Above[0] <= s.Upto {
		if s.Above[0] == s.Upto {
			s.Upto++
		}
		s.Above = s.Above[1:]
	}
	return gap
}

// txCache keeps the state of the transactions a connection reported, as
// last stored, so that an Updated costs no read of its document. An entry
// serves only the connection that stored it: after a reconnection (perhaps
// to another node, which may have changed the document meanwhile) the
// document is read again.
type txCache struct {
	// mu guards m.
	mu sync.Mutex
	m  map[string]txEntry
}

type txEntry struct {
	conn *ocpp.Conn
	st   txState
}

// maxCachedTx bounds the cache; past it the cache starts again empty
// (each open transaction then costs one read).
const maxCachedTx = 100_000

func (c *txCache) get(key string, conn *ocpp.Conn) (txState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || e.conn != conn {
		return txState{}, false
	}
	st := e.st
	st.Above = slices.Clone(st.Above) // the caller changes its copy
	return st, true
}

func (c *txCache) put(key string, conn *ocpp.Conn, st txState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.Ended {
		delete(c.m, key)
		return
	}
	if c.m == nil || len(c.m) >= maxCachedTx {
		c.m = make(map[string]txEntry)
	}
	c.m[key] = txEntry{conn: conn, st: st}
}

func (h *Handler) transactionEvent(ctx context.Context, c *ocpp.Conn, m TransactionEventReq, payload []byte) (any, error) {
	id := c.ID()
	docs, err := h.svc.Docs()
	if err != nil {
		return nil, fmt.Errorf("transaction event: %w", err)
	}
	txID := m.TransactionInfo.TransactionID
	key := id + "/" + txID
	st, cached := h.txs.get(key, c)
	var d charging.Doc
	if !cached {
		d, err = docs.GetDoc(ctx, DocKindTransaction, key)
	}
	switch {
	case cached:
	case err == nil:
		if err := json.Unmarshal(d.Body, &st); err != nil {
			return nil, fmt.Errorf("transaction %s of %s: stored state: %w", txID, id, err)
		}
	case errors.Is(err, charging.ErrNotFound):
		if m.EventType != "Started" {
			h.log.Warn("TransactionEvent before its Started (seqNo gap); session opened from it", "charger", id, "transaction", txID, "event", m.EventType, "seq", m.SeqNo)
		}
	default:
		return nil, fmt.Errorf("transaction %s of %s: %w", txID, id, err)
	}
	if st.applied(m.SeqNo) {
		h.log.Info("repeated TransactionEvent answered, not applied again", "charger", id, "transaction", txID, "seq", m.SeqNo)
		return TransactionEventConf{}, nil
	}
	if m.EVSE != nil && st.EVSE == 0 {
		st.EVSE = m.EVSE.ID
	}
	if m.EVSE != nil && m.EVSE.ConnectorID != nil && st.Connector == 0 {
		st.Connector = *m.EVSE.ConnectorID
	}
	if st.StartedAt == "" {
		st.StartedAt = m.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	if m.ReservationID != nil {
		st.Reservation = m.ReservationID
	}
	if m.TransactionInfo.RemoteStartID != nil {
		st.RemoteStart = m.TransactionInfo.RemoteStartID
	}
	samples := Samples(m.MeterValue)
	if wh, ok := registerWh(samples, true); ok && st.StartWh == nil {
		st.StartWh = &wh
	}
	if wh, ok := registerWh(samples, false); ok {
		st.LastWh = &wh
	}
	var conf TransactionEventConf
	if !st.opened() && (m.IDToken != nil || m.EventType == "Ended") {
		tag, typ := "", charging.IDTokenType("")
		if m.IDToken != nil {
			tag, typ = m.IDToken.IDToken, charging.IDTokenType(m.IDToken.Type)
		}
		evse := max(st.EVSE, 1)
		if st.Connector == 0 {
			st.Connector = h.pluggedConnector(ctx, id, evse)
		}
		started, _ := parseTime(st.StartedAt)
		req := charging.StartRequest{
			ChargerID: id, ConnectorID: evse, EVSEConnectorID: st.Connector, TransactionID: txID, IDTag: tag, TokenType: typ, MeterStartWh: deref(st.StartWh),
			ReservationID: st.Reservation, Timestamp: started, Key: startKey(txID),
		}
		res, err := h.svc.StartTransaction(ctx, req)
		if errors.Is(err, charging.ErrExists) {
			// The charger has a transaction of this id that is not this
			// one (its start key differs): one it ran under OCPP 1.6.
			req.TransactionID = namespacedTx(txID)
			h.log.Info("2.0.1 transaction id taken on this charger by an earlier transaction; kept under a namespaced id",
				"charger", id, "transaction", txID, "core_tx", req.TransactionID)
			res, err = h.svc.StartTransaction(ctx, req)
		}
		if err != nil {
			return nil, err
		}
		if res.Session.TransactionID != txID {
			st.CoreID = res.Session.TransactionID
		}
		st.Opened = true
		if m.IDToken != nil {
			info := tokenInfo(res.IDTagInfo)
			conf.IDTokenInfo = &info
		}
	} else if m.IDToken != nil {
		info, err := h.svc.AuthorizeTyped(ctx, id, m.IDToken.IDToken, charging.IDTokenType(m.IDToken.Type))
		if err != nil {
			return nil, err
		}
		if info.Status == charging.AuthConcurrentTx {
			info.Status = charging.AuthAccepted // it is this very transaction
		}
		i := tokenInfo(info)
		conf.IDTokenInfo = &i
	}
	// The samples are written last, with the state document (below).
	var meter *charging.MeterValues
	if st.opened() && m.EventType != "Ended" && len(samples) > 0 {
		tx := st.coreTx(txID)
		meter = &charging.MeterValues{ChargerID: id, ConnectorID: max(st.EVSE, 1), TransactionID: &tx, Samples: samples}
	}
	if m.EventType == "Ended" && !st.Ended {
		stopWh := deref(st.LastWh)
		if st.LastWh == nil {
			stopWh = deref(st.StartWh)
		}
		status, reason := StopStatus(m.TransactionInfo.StoppedReason)
		if _, err := h.svc.StopTransaction(ctx, charging.StopRequest{
			ChargerID: id, TransactionID: st.coreTx(txID), MeterStopWh: stopWh, Timestamp: m.Timestamp,
			Status: status, Reason: reason, TransactionData: samples, Payload: payload,
		}); err != nil {
			return nil, err
		}
		st.Ended = true
	}
	// The connector's status follows the chargingState (a change only; an
	// older event than the status in force does not overwrite it).
	if cs := ChargingState(m.EventType, m.TransactionInfo.ChargingState); cs != "" && cs != st.State && st.EVSE > 0 {
		if st.Connector == 0 {
			st.Connector = h.pluggedConnector(ctx, id, st.EVSE)
		}
		if _, err := h.svc.StatusNotification(ctx, charging.Connector{ChargerID: id, ConnectorID: st.EVSE, EVSEConnectorID: st.Connector,
			Availability: charging.Operative, State: cs, StatusAt: m.Timestamp}); err != nil {
			return nil, err
		}
		st.State = cs
	}
	expected := st.Upto
	if st.mark(m.SeqNo) {
		// Applied, the gap kept (a later event may fill it): the service
		// logs it (sampled) and counts it per charger.
		h.svc.RecordViolation(ctx, charging.Violation{ChargerID: id, Kind: "seqno-gap", Outcome: charging.ViolationTolerated,
			Example: fmt.Sprintf("transaction %s: %s seqNo %d, expected %d", txID, m.EventType, m.SeqNo, expected)})
	}
	body, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	// Updated is the transaction's start, the same at every event: the
	// store then rewrites the body alone, no index entry (stationTransaction
	// finds the newest transactions first all the same).
	started, _ := parseTime(st.StartedAt)
	doc := charging.Doc{Kind: DocKindTransaction, ID: key, Owner: id, Body: body, Updated: started}
	if meter != nil {
		// One write, one commit: the samples and the seqNo that says they
		// were applied are on disk together or not at all (an Updated is
		// most of a station's traffic; two commits each halved what the
		// store could take, BENCHMARKS.md).
		meter.Doc = &doc
		if err := h.svc.MeterValues(ctx, *meter); err != nil {
			return nil, err
		}
	} else if err := docs.PutDoc(ctx, doc); err != nil {
		return nil, fmt.Errorf("transaction %s of %s: %w", txID, id, err)
	}
	h.txs.put(key, c, st)
	return conf, nil
}

// namespacedTx is the core's id of the station's transaction txID when
// the charger already has a transaction txID that is another: a charger
// that ran OCPP 1.6 before, whose transaction ids were numbers the core
// drew ("5"), and now names its own under 2.0.1 ("5" again).
//
// The namespace is the adapter's rather than a protocol column in the
// stores' key (charger, transaction id): every lookup by transaction — a
// stop, meter values, OCPI, load management — would have to carry the
// protocol, and an id would no longer name a transaction of its charger
// on its own. A collision needs a charger that changed protocol, so only
// that rare transaction pays: it is shown as "5@ocpp2.0.1", its document
// links it to the station's id (coreTx, stationTransaction), and every
// other 2.0.1 transaction keeps the station's own id in the API. (1.6
// draws skip ids the charger already has: the stores' StartSession.)
func namespacedTx(txID string) string { return txID + "@ocpp2.0.1" }

// startKey is the core's retry key for the session of a transaction: the
// station's transactionId, unique per station. Not the seqNo too: every
// event of the transaction must reach the same session, and a repeated
// event is already caught by the seqNos kept in the transaction's doc.
func startKey(txID string) string {
	return "ocpp2.0.1|" + txID
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// registerWh is the first (or last) Energy.Active.Import.Register reading
// of the samples, in Wh.
func registerWh(samples []charging.MeterSample, first bool) (int64, bool) {
	var wh int64
	found := false
	for _, s := range samples {
		for _, v := range s.Values {
			if v.Measurand != charging.MeasurandEnergyImportRegister || !v.Numeric || v.Unit != "kWh" ||
				(v.Location != "" && v.Location != "Outlet") || v.Phase != "" {
				continue
			}
			wh, found = int64(math.Round(v.Value*1000)), true
			if first {
				return wh, true
			}
		}
	}
	return wh, found
}

// Samples converts 2.0.1 meter values to the core's: the value scaled by
// its multiplier, then the same defaults and canonical units as 1.6 (a
// 2.0.1 SampledValue without unitOfMeasure is in Wh for energy).
func Samples(mvs []MeterValue) []charging.MeterSample {
	out := make([]charging.MeterSample, 0, len(mvs))
	total := 0
	for _, mv := range mvs {
		total += len(mv.SampledValue)
	}
	vals := make([]charging.SampledValue, total) // one array for every sample's values
	for _, mv := range mvs {
		n := len(mv.SampledValue)
		s := charging.MeterSample{Timestamp: mv.Timestamp, Values: vals[:0:n]}
		vals = vals[n:]
		for _, sv := range mv.SampledValue {
			unit, mult := "", 0
			if u := sv.UnitOfMeasure; u != nil {
				unit, mult = u.Unit, u.Multiplier
			}
			v := sv.Value
			if mult != 0 {
				v *= math.Pow10(mult)
			}
			s.Values = append(s.Values, ocpp16.ConvertSampledNumber(ocpp16.SampledValue{
				Value: strconv.FormatFloat(v, 'g', -1, 64), Context: sv.Context, Measurand: sv.Measurand,
				Phase: sv.Phase, Location: sv.Location, Unit: unit,
			}, v))
		}
		out = append(out, s)
	}
	return out
}

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// stationTransaction is the station's own transactionId of a session
// (what RequestStopTransaction and a TxProfile name), or ErrNotFound: the
// session's transaction id, except for a transaction opened before #12,
// whose document links the two.
func stationTransaction(ctx context.Context, svc *charging.Service, s charging.Session) (string, error) {
	docs, err := svc.Docs()
	if err != nil {
		return "", err
	}
	d, err := docs.GetDoc(ctx, DocKindTransaction, s.ChargerID+"/"+s.TransactionID)
	if err == nil {
		var st txState
		if json.Unmarshal(d.Body, &st) == nil && !st.linked() {
			return s.TransactionID, nil
		}
	} else if !errors.Is(err, charging.ErrNotFound) {
		return "", err
	}
	list, _, err := docs.ListDocs(ctx, charging.DocQuery{Kind: DocKindTransaction, Owner: s.ChargerID, Newest: true, Limit: 1000})
	if err != nil {
		return "", err
	}
	for _, d := range list {
		var st txState
		if json.Unmarshal(d.Body, &st) == nil && st.linked() && st.coreTx("") == s.TransactionID {
			return strings.TrimPrefix(d.ID, s.ChargerID+"/"), nil
		}
	}
	return "", fmt.Errorf("%w: no 2.0.1 transaction of %s is linked to session %s", charging.ErrNotFound, s.ChargerID, s.ID)
}

// sessionOfTransaction is the session of the station's transactionId, or
// ErrNotFound (no event of it came yet, or none named an idToken).
func sessionOfTransaction(ctx context.Context, svc *charging.Service, chargerID, txID string) (charging.Session, error) {
	docs, err := svc.Docs()
	if err != nil {
		return charging.Session{}, err
	}
	d, err := docs.GetDoc(ctx, DocKindTransaction, chargerID+"/"+txID)
	if err != nil {
		return charging.Session{}, err
	}
	var st txState
	if err := json.Unmarshal(d.Body, &st); err != nil {
		return charging.Session{}, err
	}
	if !st.opened() {
		return charging.Session{}, fmt.Errorf("%w: transaction %s of %s has no session yet", charging.ErrNotFound, txID, chargerID)
	}
	return svc.Store().SessionByTransaction(ctx, chargerID, st.coreTx(txID))
}
