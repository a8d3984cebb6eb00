package charging

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chargebridge/chargebridge/internal/keylock"
)

// Config is the core's policy.
type Config struct {
	// HeartbeatInterval is given to chargers in the BootNotification answer.
	HeartbeatInterval time.Duration
	// AutoRegister admits unknown chargers, registering them on first boot.
	AutoRegister bool
	// AutoRegisterBootStatus answers the first boot of an auto-registered
	// charger (Accepted by default; Pending keeps it waiting for an operator).
	AutoRegisterBootStatus BootStatus
	// AcceptUnknownTags authorizes id tags that are not registered (demo and
	// free-vend sites). Blocked, expired and invalid tags are still refused.
	AcceptUnknownTags bool
	// TokenAuthorizer, when set, decides on id tags the core's own list
	// does not have (roaming partners' tokens), before AcceptUnknownTags.
	TokenAuthorizer TokenAuthorizer
}

// TokenAuthorizer decides on id tags that are not in the core's own list,
// such as the tokens of roaming partners (OCPI eMSPs). It may ask the
// partner and must answer within its own timeout.
type TokenAuthorizer interface {
	// AuthorizeToken returns the decision on idTag at a charger's
	// connector (0 when not known yet), and known false when it does not
	// know the tag either.
	AuthorizeToken(ctx context.Context, chargerID string, connectorID int, idTag string) (info IDTagInfo, known bool, err error)
}

// Service is the session core: the OCPP handlers, the operator API and the
// roaming adapters call it; it keeps the canonical state in a Store and tells
// listeners what changed.
type Service struct {
	store Store
	// storeThen is store when it takes meter writes without waiting
	// (MeterWriterThen), else nil.
	storeThen MeterWriterThen
	clock     Clock
	log       *slog.Logger
	cfg       Config

	// mu guards listeners.
	mu        sync.RWMutex
	listeners []Listener

	// registers screens energy register readings (screen.go).
	registers registers

	viol violations

	// starts serializes, per charger, a start's store write and the
	// recording of a remote start it may answer (RemoteStartAccepted):
	// the charger sends its StartTransaction right after its answer, and
	// the two must not interleave. Both run on the node that holds the
	// charger's connection.
	starts keylock.Map

	// tolMu guards tolerant, the chargers' tolerance switches (tolerance.go).
	tolMu    sync.Mutex
	tolerant map[string]bool
}

// NewService returns a Service on store.
func NewService(store Store, clock Clock, log *slog.Logger, cfg Config) *Service {
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 5 * time.Minute
	}
	if cfg.AutoRegisterBootStatus == "" {
		cfg.AutoRegisterBootStatus = BootAccepted
	}
	then, _ := store.(MeterWriterThen)
	return &Service{store: store, storeThen: then, clock: clock, log: log, cfg: cfg}
}

// Store returns the store the service keeps its state in, for read-side
// adapters (the operator API, OCPI pulls).
func (s *Service) Store() Store { return s.store }

// Clock returns the service's clock.
func (s *Service) Clock() Clock { return s.clock }

// Subscribe adds a listener for committed changes.
func (s *Service) Subscribe(l Listener) {
	s.mu.Lock()
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
}

func (s *Service) publish(e Event) {
	s.mu.RLock()
	ls := s.listeners
	s.mu.RUnlock()
	for _, l := range ls {
		l(e)
	}
}

// Admit decides whether a charger may connect. Registered chargers may;
// unknown ones only with auto-registration, which creates them.
func (s *Service) Admit(ctx context.Context, chargerID string) (Charger, error) {
	c, err := s.store.GetCharger(ctx, chargerID)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Charger{}, fmt.Errorf("admit %s: %w", chargerID, err)
	}
	if !s.cfg.AutoRegister {
		return Charger{}, fmt.Errorf("admit %s: %w", chargerID, ErrNotFound)
	}
	c = Charger{ID: chargerID, CreatedAt: s.clock.Now()}
	err = s.store.CreateCharger(ctx, c)
	switch {
	case errors.Is(err, ErrExists): // another connection registered it meanwhile
		return s.store.GetCharger(ctx, chargerID)
	case err != nil:
		return Charger{}, fmt.Errorf("auto-register %s: %w", chargerID, err)
	}
	s.log.Info("charger auto-registered", "charger", chargerID)
	// The record as written, not read back: a connection is admitted in
	// its WebSocket handshake, and at a fleet's first connections the
	// store is the bottleneck (one query fewer per new charger).
	return c, nil
}

// RegisterCharger adds a charger on an operator's request.
func (s *Service) RegisterCharger(ctx context.Context, c Charger) (Charger, error) {
	if err := ValidateChargerID(c.ID); err != nil {
		return Charger{}, err
	}
	c.Registered = true
	c.CreatedAt = s.clock.Now()
	if err := s.store.CreateCharger(ctx, c); err != nil {
		return Charger{}, fmt.Errorf("register charger %s: %w", c.ID, err)
	}
	return s.store.GetCharger(ctx, c.ID)
}

// DeleteCharger removes a charger and its connectors on an operator's
// request; its sessions (and their CDRs), meter samples and reports stay.
// ErrNotFound for an unknown charger.
func (s *Service) DeleteCharger(ctx context.Context, id string) error {
	if err := s.store.DeleteCharger(ctx, id); err != nil {
		return err
	}
	s.log.Info("charger deleted", "charger", id)
	return nil
}

// DeleteTag removes an id tag on an operator's request; sessions keep its
// id. ErrNotFound for an unknown tag.
func (s *Service) DeleteTag(ctx context.Context, id string) error {
	if err := s.store.DeleteIDTag(ctx, id); err != nil {
		return err
	}
	s.log.Info("id tag deleted", "id_tag", id)
	return nil
}

// ValidateChargerID checks a charge point identity: 1 to 48 characters
// (OCPP's identity string), letters, digits and - _ . : only, so it is safe
// in a URL path, a log line and an OCPI uid.
func ValidateChargerID(id string) error {
	if len(id) == 0 || len(id) > 48 {
		return fmt.Errorf("%w: charger id must be 1 to 48 characters, got %d", ErrInvalidInput, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return fmt.Errorf("%w: charger id %q has character %q; use letters, digits and - _ . :", ErrInvalidInput, id, c)
		}
	}
	return nil
}

// RegisterTag creates or replaces an id tag on an operator's request.
func (s *Service) RegisterTag(ctx context.Context, t IDTag) (IDTag, error) {
	if t.ID == "" || len(t.ID) > MaxIDTokenLen {
		return IDTag{}, fmt.Errorf("%w: id tag must be 1 to %d characters (a 1.6 charger takes at most 20)", ErrInvalidInput, MaxIDTokenLen)
	}
	if t.Type == "" {
		t.Type = TokenISO14443
	}
	if !t.Type.Valid() {
		return IDTag{}, fmt.Errorf("%w: id token type %q; use one of %v", ErrInvalidInput, t.Type, IDTokenTypes)
	}
	if t.Status == "" {
		t.Status = AuthAccepted
	}
	switch t.Status {
	case AuthAccepted, AuthBlocked, AuthExpired, AuthInvalid:
	default:
		return IDTag{}, fmt.Errorf("%w: id tag status %q; use Accepted, Blocked, Expired or Invalid", ErrInvalidInput, t.Status)
	}
	t.CreatedAt = s.clock.Now()
	if err := s.store.PutIDTag(ctx, t); err != nil {
		return IDTag{}, fmt.Errorf("register tag %s: %w", t.ID, err)
	}
	return t, nil
}

// BootResult answers a BootNotification.
type BootResult struct {
	Status      BootStatus
	Interval    time.Duration
	CurrentTime time.Time
}

// Boot handles a BootNotification.
func (s *Service) Boot(ctx context.Context, b Boot) (BootResult, error) {
	now := s.clock.Now()
	c, err := s.store.GetCharger(ctx, b.ChargerID)
	if err != nil {
		return BootResult{}, fmt.Errorf("boot %s: %w", b.ChargerID, err)
	}
	status := BootAccepted
	if !c.Registered && c.BootStatus != BootAccepted {
		status = s.cfg.AutoRegisterBootStatus
	}
	if c.BootStatus == BootRejected {
		status = BootRejected
	}
	b.Status, b.At = status, now
	if err := s.store.RecordBoot(ctx, b); err != nil {
		return BootResult{}, fmt.Errorf("boot %s: %w", b.ChargerID, err)
	}
	s.publish(Event{Kind: ChargerChanged, At: now, ChargerID: b.ChargerID})
	return BootResult{Status: status, Interval: s.cfg.HeartbeatInterval, CurrentTime: now}, nil
}

// Heartbeat records that a charger is alive and returns the current time.
func (s *Service) Heartbeat(ctx context.Context, chargerID string) (time.Time, error) {
	now := s.clock.Now()
	if err := s.store.TouchCharger(ctx, chargerID, now); err != nil {
		return time.Time{}, fmt.Errorf("heartbeat %s: %w", chargerID, err)
	}
	return now, nil
}

// StatusNotification stores a connector's status; a report older than the
// stored one is recorded as seen but does not overwrite it.
//
// The adapter gives the connector's Availability and State; Status is
// derived from them. (A caller that gives only Status gets the split
// derived from it.)
//
// c names its EVSE (ConnectorID) and the connector within it
// (EVSEConnectorID; DefaultEVSEConnector when 0). The event published, like
// the one the store appends, carries the EVSE's entry: its status folded
// from all its connectors (FoldEVSE).
func (s *Service) StatusNotification(ctx context.Context, c Connector) (applied bool, err error) {
	c.EVSEConnectorID = DefaultEVSEConnector(c.ConnectorID, c.EVSEConnectorID)
	c.EVSEConnectors = nil
	if c.State != "" {
		c.Status = StatusOf(c.Availability, c.State)
	} else {
		c.Availability, c.State = c.Status.Split()
	}
	now := s.clock.Now()
	c.UpdatedAt = now
	if c.StatusAt.IsZero() {
		c.StatusAt = now
	}
	evse, applied, err := s.store.SetConnectorStatus(ctx, c)
	if err != nil {
		return false, fmt.Errorf("status of %s/%d/%d: %w", c.ChargerID, c.ConnectorID, c.EVSEConnectorID, err)
	}
	if applied {
		s.publish(Event{Kind: ConnectorChanged, At: now, ChargerID: c.ChargerID, Connector: &evse})
	} else {
		// Answered, kept out of the connector's state: a status older than
		// the one in force (the log line is RecordViolation's, sampled).
		s.RecordViolation(ctx, Violation{ChargerID: c.ChargerID, Kind: "status-out-of-order", Outcome: ViolationTolerated,
			Example: fmt.Sprintf("connector %d/%d %s at %s, older than the status in force", c.ConnectorID, c.EVSEConnectorID, c.Status, c.StatusAt.UTC().Format(time.RFC3339))})
	}
	return applied, nil
}

// ConnectorPlug stores the plug a charger described for connector
// c.EVSEConnectorID of EVSE c.ConnectorID (c.Plug, c.Cable).
func (s *Service) ConnectorPlug(ctx context.Context, c Connector) error {
	if err := s.store.SetConnectorPlug(ctx, c); err != nil {
		return fmt.Errorf("plug of %s/%d/%d: %w", c.ChargerID, c.ConnectorID, c.EVSEConnectorID, err)
	}
	return nil
}

// Authorize decides whether an id tag may charge (a 1.6 idTag: its type is
// not known).
func (s *Service) Authorize(ctx context.Context, chargerID, idTag string) (IDTagInfo, error) {
	return s.AuthorizeTyped(ctx, chargerID, idTag, "")
}

// AuthorizeTyped decides whether an id token presented as typ may charge
// (OCPP 2.0.1 IdTokenType; "" when the protocol does not say). A token
// registered with another type is refused: an RFID card's UID typed in as
// a key code, or sent as an eMAID, is not the card. Central is a token the
// central system sent the station itself (a remote start), and matches
// any. NoAuthorization is a station that asks no token: nothing to refuse.
func (s *Service) AuthorizeTyped(ctx context.Context, chargerID, idTag string, typ IDTokenType) (IDTagInfo, error) {
	if typ == TokenNoAuthorization {
		return IDTagInfo{Status: AuthAccepted}, nil
	}
	info, err := s.authorizeTyped(ctx, chargerID, 0, idTag, typ)
	if err != nil {
		return IDTagInfo{}, fmt.Errorf("authorize %s at %s: %w", idTag, chargerID, err)
	}
	if info.Status == AuthAccepted {
		if _, err := s.store.ActiveSessionForTag(ctx, idTag); err == nil {
			info.Status = AuthConcurrentTx
		} else if !errors.Is(err, ErrNotFound) {
			return IDTagInfo{}, fmt.Errorf("authorize %s: %w", idTag, err)
		}
	}
	return info, nil
}

func (s *Service) authorize(ctx context.Context, chargerID string, connectorID int, idTag string) (IDTagInfo, error) {
	return s.authorizeTyped(ctx, chargerID, connectorID, idTag, "")
}

func (s *Service) authorizeTyped(ctx context.Context, chargerID string, connectorID int, idTag string, typ IDTokenType) (IDTagInfo, error) {
	if typ == TokenNoAuthorization {
		return IDTagInfo{Status: AuthAccepted}, nil
	}
	t, err := s.store.GetIDTag(ctx, idTag)
	if errors.Is(err, ErrNotFound) {
		if a := s.cfg.TokenAuthorizer; a != nil {
			info, known, err := a.AuthorizeToken(ctx, chargerID, connectorID, idTag)
			if err != nil {
				s.log.Warn("token authorizer failed; treating the id tag as unknown", "charger", chargerID, "id_tag", idTag, "err", err)
			} else if known {
				return info, nil
			}
		}
		if s.cfg.AcceptUnknownTags {
			return IDTagInfo{Status: AuthAccepted}, nil
		}
		return IDTagInfo{Status: AuthInvalid}, nil
	}
	if err != nil {
		return IDTagInfo{}, err
	}
	// Central: the token the central system itself sent the station (a
	// remote start or reservation), whatever the driver's token is.
	if typ != "" && typ != TokenCentral && t.Type != "" && typ != t.Type {
		s.log.Warn("id token refused: presented as another type than it is registered with", "charger", chargerID,
			"id_tag", idTag, "presented", typ, "registered", t.Type)
		return IDTagInfo{Status: AuthInvalid}, nil
	}
	info := IDTagInfo{Status: t.Status, ExpiresAt: t.ExpiresAt, ParentID: t.ParentID}
	if info.Status == AuthAccepted && t.ExpiresAt != nil && !t.ExpiresAt.After(s.clock.Now()) {
		info.Status = AuthExpired
	}
	return info, nil
}

// StartRequest is a StartTransaction.
type StartRequest struct {
	ChargerID string
	// ConnectorID is the EVSE; EVSEConnectorID the connector within it
	// (DefaultEVSEConnector when 0).
	ConnectorID     int
	EVSEConnectorID int
	// TransactionID is the charger's own id of the transaction (2.0.1's
	// transactionId), unique per charger; empty to have the store draw a
	// number from its sequence (1.6, where the central system numbers
	// transactions).
	TransactionID string
	IDTag         string
	// TokenType is how IDTag was presented, when the protocol says (2.0.1);
	// see AuthorizeTyped.
	TokenType     IDTokenType
	MeterStartWh  int64
	ReservationID *int64
	Timestamp     time.Time
	// Key identifies a retry of this start within the charger; the adapter
	// builds it from what its protocol repeats on a retry (1.6: the
	// StartTransaction fields; 2.0.1: the station's transactionId). A start
	// with the same charger and Key returns the stored session. Empty means
	// no retry detection.
	Key string
}

// StartResult answers a StartTransaction.
type StartResult struct {
	Session   Session
	IDTagInfo IDTagInfo
	// Retry is true when this was a repeat of an already stored start.
	Retry bool
}

// StartTransaction opens a session. A retry of the same StartTransaction
// returns the same transaction id. The charger has already started, so a
// refused id tag still gets a session, marked invalid, and the refusal in
// IDTagInfo.
func (s *Service) StartTransaction(ctx context.Context, r StartRequest) (StartResult, error) {
	if r.ConnectorID < 1 {
		return StartResult{}, fmt.Errorf("%w: start transaction on connector %d; connectors are numbered from 1", ErrInvalidInput, r.ConnectorID)
	}
	info, err := s.authorizeTyped(ctx, r.ChargerID, r.ConnectorID, r.IDTag, r.TokenType)
	if err != nil {
		return StartResult{}, fmt.Errorf("start transaction at %s/%d: %w", r.ChargerID, r.ConnectorID, err)
	}
	ev := StartAccepted
	if info.Status != AuthAccepted {
		ev = StartRefused
	}
	t, err := Next(StatusNone, ev)
	if err != nil {
		return StartResult{}, err
	}
	status := t.To
	s.screenStart(ctx, r)
	unlock, err := s.starts.Lock(ctx, r.ChargerID)
	if err != nil {
		return StartResult{}, fmt.Errorf("start transaction at %s/%d: %w", r.ChargerID, r.ConnectorID, err)
	}
	defer unlock()
	now := s.clock.Now()
	id := NewID()
	sess, created, err := s.store.StartSession(ctx, StartSession{
		ID:              id,
		TransactionID:   r.TransactionID,
		StartKey:        startKey(r.ChargerID, r.Key),
		ChargerID:       r.ChargerID,
		ConnectorID:     r.ConnectorID,
		EVSEConnectorID: DefaultEVSEConnector(r.ConnectorID, r.EVSEConnectorID),
		IDTag:           r.IDTag,
		Status:          status,
		MeterStartWh:    r.MeterStartWh,
		ReservationID:   r.ReservationID,
		ParentIDTag:     info.ParentID,
		StartedAt:       r.Timestamp,
		ReceivedAt:      now,
	})
	if err != nil {
		return StartResult{}, fmt.Errorf("start transaction at %s/%d: %w", r.ChargerID, r.ConnectorID, err)
	}
	if created && sess.ID != id {
		rule := takeOverRule(r, sess, info)
		s.log.Info("StartTransaction took over a waiting session", "charger", r.ChargerID, "connector", r.ConnectorID,
			"session", sess.ID, "tx", sess.TransactionID, "rule", rule)
	}
	if created {
		if sess.Seq != 0 {
			s.registers.put(registerKey(r.ChargerID, sess.TransactionID), openTxOf(&sess))
		}
		s.publish(Event{Kind: SessionChanged, At: now, ChargerID: r.ChargerID, Session: &sess, TransactionID: sess.TransactionID})
	} else {
		s.log.Info("repeated StartTransaction answered with its transaction id", "charger", r.ChargerID, "tx", sess.TransactionID)
	}
	return StartResult{Session: sess, IDTagInfo: info, Retry: !created}, nil
}

// startKey is the stored retry key: the adapter's key made unique across
// chargers.
func startKey(chargerID, key string) string {
	if key == "" {
		return ""
	}
	return chargerID + "|" + key
}

// MeterValues stores samples and folds them into their session. Samples
// for an unknown transaction are kept and the charger is still answered.
func (s *Service) MeterValues(ctx context.Context, m MeterValues) error {
	m.ReceivedAt = s.clock.Now()
	m.TransactionData = false
	o, found, err := s.writeMeter(ctx, &m)
	if err != nil {
		return fmt.Errorf("meter values from %s/%d: %w", m.ChargerID, m.ConnectorID, err)
	}
	if m.TransactionID != nil && !found {
		s.log.Warn("meter values for unknown transaction stored unattached", "charger", m.ChargerID, "tx", *m.TransactionID)
	}
	if found {
		s.publishMeter(&m, o.sessionID)
	}
	return nil
}

// publishMeter tells the listeners that m, of a transaction, was folded
// into session sessionID.
func (s *Service) publishMeter(m *MeterValues, sessionID string) {
	s.publish(Event{Kind: SessionChanged, At: m.ReceivedAt, ChargerID: m.ChargerID, SessionID: sessionID, TransactionID: *m.TransactionID})
}

// meterWrite screens m against the session's last register as remembered
// (o, when found) and folds it into that meter: what the store is given.
func (s *Service) meterWrite(ctx context.Context, m MeterValues, o openTx, found bool) MeterWrite {
	w := MeterWrite{MeterValues: m}
	last := -1.0
	if found {
		last = o.meter.LastRegisterWh
	}
	s.screenMeterValues(ctx, &w.MeterValues, last, m.TransactionData)
	if found {
		w.Seq, w.Version, w.Meter = o.seq, o.version, foldMeter(o.meter, w.MeterValues)
	}
	return w
}

// MeterValuesThen is MeterValues for a caller that does not wait for the
// write to be durable: done gets MeterValues' result once. When the store
// is a MeterWriterThen and the transaction is remembered, done runs on
// the store's goroutine after the commit and must not block; otherwise (and
// for samples of no transaction) it runs on the caller's goroutine
// before MeterValuesThen returns. m's samples are not used once done
// has been called.
func (s *Service) MeterValuesThen(ctx context.Context, m MeterValues, done func(error)) {
	if s.storeThen == nil || m.TransactionID == nil {
		done(s.MeterValues(ctx, m))
		return
	}
	key := registerKey(m.ChargerID, *m.TransactionID)
	o, found := s.registers.getCached(key, m.Cache)
	if !found || o.seq == 0 {
		// Not remembered (a restart, another node) or unknown: the
		// waiting path reads it, and says what is wrong.
		done(s.MeterValues(ctx, m))
		return
	}
	m.ReceivedAt = s.clock.Now()
	m.TransactionData = false
	c := meterCalls.Get().(*meterCall)
	c.s, c.ctx, c.key, c.done = s, ctx, key, done
	c.w, c.o = s.meterWrite(ctx, m, o, true), o
	if c.finished == nil {
		c.finished = c.finish // bound once per pooled call
	}
	s.storeThen.WriteMeterValuesThen(ctx, c.w, c.finished)
}

// meterCall is a MeterValuesThen waiting for its write, pooled.
type meterCall struct {
	s        *Service
	ctx      context.Context
	key      txKey
	o        openTx
	w        MeterWrite
	done     func(error)
	finished func(error)
}

var meterCalls = sync.Pool{New: func() any { return new(meterCall) }}

// finish is the outcome of a MeterValuesThen's write: the meter is
// remembered and the change published, as MeterValues does. A version
// another writer moved on is folded again from the store, by the waiting
// path on a goroutine of its own: the writer's must not wait for a read.
func (c *meterCall) finish(err error) {
	s, done, m := c.s, c.done, &c.w.MeterValues
	switch {
	case err == nil:
		c.o.version, c.o.meter = c.o.version+1, c.w.Meter
		s.registers.update(c.key, c.o)
		s.publishMeter(m, c.o.sessionID)
	case errors.Is(err, ErrConflict):
		// Only this rare case copies the call for a goroutine (a copy
		// captured at the top escaped to the heap for every call).
		ctx, retry, again := c.ctx, done, *m
		go func() { retry(s.MeterValues(ctx, again)) }()
		done = nil
	default:
		err = fmt.Errorf("meter values from %s/%d: %w", m.ChargerID, m.ConnectorID, err)
	}
	*c = meterCall{finished: c.finished}
	meterCalls.Put(c)
	if done != nil {
		done(err)
	}
}

// maxMeterAttempts bounds writeMeter's compare-and-set retries: each
// miss means another writer folded into the same session in between,
// which a charger sending one message at a time makes rare.
const maxMeterAttempts = 8

// writeMeter screens m (m.TransactionData: a StopTransaction's
// transactionData), folds it into its session's meter as the core remembers it, and has the
// store write the samples and the folded meter by the session's primary
// key over the remembered version. When another writer moved the version
// on (ErrConflict), it reads the session again, screens and folds again,
// and retries. found is false when m names no transaction of its
// charger: its samples are then stored unattached.
func (s *Service) writeMeter(ctx context.Context, m *MeterValues) (o openTx, found bool, err error) {
	var key txKey
	if m.TransactionID != nil {
		key = registerKey(m.ChargerID, *m.TransactionID)
		if o, found, err = s.openTx(ctx, key, m.Cache, m.ChargerID, *m.TransactionID); err != nil {
			return o, false, err
		}
	}
	for attempt := 1; ; attempt++ {
		if found && o.seq == 0 {
			return o, false, fmt.Errorf("session %s: the store gave no primary key", o.sessionID)
		}
		w := s.meterWrite(ctx, *m, o, found)
		err = s.store.WriteMeterValues(ctx, w)
		if err == nil {
			*m = w.MeterValues
			if found {
				o.version, o.meter = o.version+1, w.Meter
				s.registers.update(key, o)
			}
			return o, found, nil
		}
		if !found || !errors.Is(err, ErrConflict) || attempt == maxMeterAttempts {
			return o, found, err
		}
		s.log.Debug("meter values: the session's meter changed under this fold; folding again", "charger", m.ChargerID,
			"tx", *m.TransactionID, "session", o.sessionID, "version", o.version)
		if o, found, err = s.readTx(ctx, key, m.ChargerID, *m.TransactionID); err != nil {
			return o, false, err
		}
	}
}

// foldMeter folds m into the meter mt (Fold).
func foldMeter(mt Meter, m MeterValues) Meter {
	var sess Session
	sess.SetMeter(mt)
	sess, _ = Fold(sess, m)
	return sess.Meter()
}

// StopRequest is a StopTransaction.
type StopRequest struct {
	ChargerID     string
	TransactionID string
	IDTag         string
	MeterStopWh   int64
	Timestamp     time.Time
	// Status is the final status the adapter mapped its protocol's stop
	// reason to: SessionCompleted or SessionInterrupted. Empty means
	// completed.
	Status SessionStatus
	// Reason is the stop reason as the charger gave it (the adapter fills
	// in its protocol's default when absent), kept as the session's
	// stop_reason.
	Reason          string
	TransactionData []MeterSample
	// Payload is the request as received, kept when the transaction is unknown.
	Payload []byte
}

// StopResult answers a StopTransaction.
type StopResult struct {
	Session *Session
	// IDTagInfo is set when the stop carried an id tag.
	IDTagInfo *IDTagInfo
}

// StopTransaction ends a session. Its transactionData is stored as
// telemetry first. A stop for an unknown transaction is recorded and
// answered, never lost.
func (s *Service) StopTransaction(ctx context.Context, r StopRequest) (StopResult, error) {
	now := s.clock.Now()
	tx := r.TransactionID
	var res StopResult
	status := r.Status
	if status == "" {
		status = SessionCompleted
	}
	if status != SessionCompleted && status != SessionInterrupted {
		return res, fmt.Errorf("%w: stop transaction %s with status %q; want completed or interrupted", ErrInvalidInput, tx, status)
	}
	if r.IDTag != "" {
		info, err := s.authorize(ctx, r.ChargerID, 0, r.IDTag)
		if err != nil {
			return res, fmt.Errorf("stop transaction %s: %w", tx, err)
		}
		res.IDTagInfo = &info
	}
	if len(r.TransactionData) > 0 && !s.alreadyStopped(ctx, r.ChargerID, tx) {
		// A retried StopTransaction (the charger missed our answer) must
		// not store its transactionData twice.
		data := MeterValues{ChargerID: r.ChargerID, TransactionID: &tx, Samples: r.TransactionData, ReceivedAt: now, TransactionData: true}
		if _, _, err := s.writeMeter(ctx, &data); err != nil {
			return res, fmt.Errorf("stop transaction %s: %w", tx, err)
		}
	}
	sess, err := s.store.StopSession(ctx, StopSession{
		ChargerID:     r.ChargerID,
		TransactionID: tx,
		MeterStopWh:   r.MeterStopWh,
		EndedAt:       r.Timestamp,
		Reason:        r.Reason,
		Status:        status,
		IDTag:         r.IDTag,
		ReceivedAt:    now,
	})
	s.registers.forget(registerKey(r.ChargerID, tx))
	if errors.Is(err, ErrNotFound) {
		s.log.Warn("StopTransaction for unknown transaction recorded", "charger", r.ChargerID, "tx", tx)
		s.RecordViolation(ctx, Violation{ChargerID: r.ChargerID, Kind: "stop-unknown-transaction", Outcome: ViolationFlagged,
			Example: "StopTransaction for transaction " + tx + ", which the charger never started here"})
		if err := s.store.RecordEvent(ctx, ChargerEvent{ChargerID: r.ChargerID, Kind: EventUnmatchedStop, Payload: r.Payload, At: now}); err != nil {
			return res, fmt.Errorf("record unmatched stop %s: %w", tx, err)
		}
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("stop transaction %s: %w", tx, err)
	}
	res.Session = &sess
	s.publish(Event{Kind: SessionChanged, At: now, ChargerID: r.ChargerID, Session: &sess, TransactionID: sess.TransactionID})
	return res, nil
}

// takeOverRule names the rule by which a StartTransaction took over the
// waiting session sess, for the log: the reservation it quoted, the
// reservation's id tag or one with the same parent, or a remote start.
func takeOverRule(r StartRequest, sess Session, info IDTagInfo) string {
	switch {
	case sess.ReservationID == nil:
		return "remote-start-id-tag"
	case r.ReservationID != nil:
		return "reservation-id"
	case sess.IDTag == r.IDTag:
		return "reservation-id-tag"
	case info.ParentID != "":
		return "reservation-parent-id-tag"
	}
	return "reservation"
}

// alreadyStopped reports whether the charger's transaction has had its
// StopTransaction applied.
func (s *Service) alreadyStopped(ctx context.Context, chargerID, tx string) bool {
	sess, err := s.store.SessionByTransaction(ctx, chargerID, tx)
	return err == nil && sess.MeterStopWh != nil
}

// RecordEvent keeps a charger report (status notifications of firmware,
// diagnostics, logs; security events; data transfers).
func (s *Service) RecordEvent(ctx context.Context, chargerID, kind string, payload []byte) error {
	e := ChargerEvent{ChargerID: chargerID, Kind: kind, Payload: payload, At: s.clock.Now()}
	if err := s.store.RecordEvent(ctx, e); err != nil {
		return fmt.Errorf("record %s from %s: %w", kind, chargerID, err)
	}
	return nil
}

// NewID returns a random session id (a UUID v4 string).
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
