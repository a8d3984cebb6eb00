package charging

import (
	"context"
	"errors"
	"time"
)

// Errors the core and its stores return. Each edge maps them to its own wire
// codes in one table.
var (
	ErrNotFound       = errors.New("not found")
	ErrExists         = errors.New("already exists")
	ErrInvalidInput   = errors.New("invalid input")
	ErrChargerBlocked = errors.New("charger is blocked")
)

// ChargerStore keeps chargers and their connectors.
type ChargerStore interface {
	// GetCharger returns the charger with its connectors, or ErrNotFound.
	GetCharger(ctx context.Context, id string) (Charger, error)
	// ListChargers returns every charger with its connectors, ordered by id.
	ListChargers(ctx context.Context) ([]Charger, error)
	// ListChargersAfter returns up to limit chargers with their
	// connectors whose id sorts after after ("": from the first), ordered
	// by id: a page read in one indexed query, whatever the fleet's size.
	ListChargersAfter(ctx context.Context, after string, limit int) ([]Charger, error)
	// CreateCharger adds a charger; ErrExists when the id is taken.
	CreateCharger(ctx context.Context, c Charger) error
	// RecordBoot stores what a BootNotification said and how it was answered.
	RecordBoot(ctx context.Context, b Boot) error
	// TouchCharger records that the charger was heard from at t.
	TouchCharger(ctx context.Context, id string, t time.Time) error
	// SetConnectorStatus stores the status of connector c.EVSEConnectorID
	// of EVSE c.ConnectorID unless the stored one has a newer StatusAt; it
	// reports whether the status was applied and, when it was, the EVSE
	// entry it leaves (FoldEVSE of the EVSE's stored connectors), which is
	// also the Connector of the ConnectorChanged event it appends.
	SetConnectorStatus(ctx context.Context, c Connector) (evse Connector, applied bool, err error)
	// SetConnectorPlug stores the plug of connector c.EVSEConnectorID of
	// EVSE c.ConnectorID (c.Plug, c.Cable), keeping its status (Unknown
	// for a connector not heard from yet). ErrNotFound for an unknown
	// charger.
	SetConnectorPlug(ctx context.Context, c Connector) error
	// DeleteCharger removes a charger and its connectors, or ErrNotFound.
	// Its sessions (and so its CDRs), meter samples and events stay.
	DeleteCharger(ctx context.Context, id string) error
}

// TagStore keeps id tags.
type TagStore interface {
	// GetIDTag returns the tag, or ErrNotFound.
	GetIDTag(ctx context.Context, id string) (IDTag, error)
	// PutIDTag creates or replaces a tag.
	PutIDTag(ctx context.Context, t IDTag) error
	ListIDTags(ctx context.Context) ([]IDTag, error)
	// DeleteIDTag removes a tag, or ErrNotFound; sessions keep its id.
	DeleteIDTag(ctx context.Context, id string) error
}

// SessionStore keeps sessions and their meter samples.
type SessionStore interface {
	// StartSession stores a session for a StartTransaction. It is
	// idempotent on s.StartKey: a retry returns the stored session with
	// created false. Otherwise the session's transaction id is
	// s.TransactionID, or, when that is empty, a number the store draws
	// from its sequence (shared by every server sharing the store; no
	// session ever had it), formatted in decimal. A transaction id is
	// unique per charger: a start naming one the charger already has
	// fails with ErrExists. It closes any
	// session still active on the same connector as interrupted (the
	// charger lost it), and returns the session with created true. When
	// the connector has a reserved session with s.ReservationID, or a
	// pending one (a remote start) on that connector or on connector 0
	// with the same id tag, that session becomes the active one. A start
	// that quotes no reservation id also takes over a reservation on its
	// connector (or connector 0) for its id tag, or for a tag with the
	// same parent id tag (s.ParentIDTag); OCPP 1.6 makes reservationId
	// optional and chargers do omit it. The session taken over
	// keeps its id, takes the transaction id, meter start, start time
	// and id tag, and loses its ExpiresAt. (LifecycleStore implementations
	// only; a plain Store always creates a new session.)
	StartSession(ctx context.Context, s StartSession) (sess Session, created bool, err error)
	// WriteMeterValues stores w's samples and, when w.Seq names a session,
	// writes w.Meter as that session's meter over w.Version (compare and
	// set), bumping its MeterVersion: all in one write, or nothing. The
	// store folds nothing (the core did, with Fold) and looks nothing up
	// by transaction id: w.Seq is the session's primary key. When the
	// session's stored MeterVersion is not w.Version (another writer
	// folded in between: another node, or this one before a restart), or
	// no session has w.Seq, it writes nothing and returns ErrConflict; the
	// core then reads the session again, folds again and retries. With
	// w.Seq 0 the samples are stored attached to no session (an unknown
	// transaction, or none).
	WriteMeterValues(ctx context.Context, w MeterWrite) error
	// StopSession ends the transaction's session (of s.ChargerID only). A
	// repeated stop (meter stop already set) changes nothing and returns
	// it; a session that ended otherwise (invalid, or interrupted by a later
	// start) still takes the stop's meter stop, reason and end time but
	// keeps its status. ErrNotFound when no session has the transaction
	// id; the caller records the stop elsewhere.
	StopSession(ctx context.Context, s StopSession) (Session, error)
	// GetSession returns a session by id, or ErrNotFound.
	GetSession(ctx context.Context, id string) (Session, error)
	// SessionByTransaction returns the charger's session with the
	// transaction id, or ErrNotFound. Transaction ids are unique per
	// charger only: another charger may have a transaction of the same id.
	SessionByTransaction(ctx context.Context, chargerID, transactionID string) (Session, error)
	// ListSessions returns a page of sessions, newest first, and the cursor
	// of the next page ("" on the last page).
	ListSessions(ctx context.Context, f SessionFilter) ([]Session, string, error)
	// SessionSamples returns a session's meter samples in time order.
	SessionSamples(ctx context.Context, sessionID string) ([]MeterSample, error)
	// ActiveSessionForTag returns the open (pending, active or stopping)
	// session of an id tag, or ErrNotFound.
	ActiveSessionForTag(ctx context.Context, idTag string) (Session, error)
}

// LifecycleStore keeps the sessions that exist before a transaction does
// (reserved, pending) and moves sessions between statuses.
type LifecycleStore interface {
	// CreateSession stores a session that has no transaction yet
	// (TransactionID ""): a reservation or a pending remote start.
	CreateSession(ctx context.Context, s Session) error
	// UpdateSessionStatus moves a session to status `to` if its status is
	// one of from; a final status sets EndedAt to at and StopReason to
	// reason. ErrNotFound when no session has the id; ErrConflict when its
	// status is not one of from. It returns the updated session.
	UpdateSessionStatus(ctx context.Context, id string, from []SessionStatus, to SessionStatus, at time.Time, reason string) (Session, error)
}

// ErrConflict says a change does not apply to the object's current state.
var ErrConflict = errors.New("conflicts with the current state")

// EventStore keeps what chargers report that is not a session: data
// transfers, firmware and diagnostics status, security events, messages that
// matched nothing.
type EventStore interface {
	RecordEvent(ctx context.Context, e ChargerEvent) error
	ListEvents(ctx context.Context, chargerID string, limit int) ([]ChargerEvent, error)
}

// Store is everything the Service needs of storage.
type Store interface {
	ChargerStore
	TagStore
	SessionStore
	EventStore
}

// FullStore is a Store with the lifecycle and document parts the command
// path, tariffs and roaming adapters need. Both stores will implement it;
// until then the Service works without it (see Service.full).
type FullStore interface {
	Store
	LifecycleStore
	DocStore
}

// Boot is what a BootNotification said, and the answer it got.
type Boot struct {
	ChargerID       string
	Vendor          string
	Model           string
	SerialNumber    string
	FirmwareVersion string
	ICCID           string
	IMSI            string
	MeterType       string
	MeterSerial     string
	Status          BootStatus
	At              time.Time
}

// StartSession is a StartTransaction as the store needs it.
type StartSession struct {
	// ID is the new session's id, chosen by the caller.
	ID string
	// TransactionID is the charger's own id of the transaction (2.0.1);
	// empty to have the store draw one (1.6, see StartSession).
	TransactionID string
	// StartKey identifies a retry of the same start: the charger id and the
	// adapter's StartRequest.Key; empty for none.
	StartKey    string
	ChargerID   string
	ConnectorID int
	// EVSEConnectorID is the connector within EVSE ConnectorID.
	EVSEConnectorID int
	IDTag           string
	Status          SessionStatus
	MeterStartWh    int64
	ReservationID   *int64
	// ParentIDTag is the id tag's parent ("" when it has none): a
	// reservation for a tag with the same parent is the driver's too.
	ParentIDTag string
	StartedAt   time.Time
	// ReceivedAt is when the central system received it: the session's
	// last_updated and the end time of a session it closes.
	ReceivedAt time.Time
}

// MeterValues is a MeterValues (or a StopTransaction's transactionData).
type MeterValues struct {
	ChargerID     string
	ConnectorID   int
	TransactionID *string
	Samples       []MeterSample
	ReceivedAt    time.Time
	// TransactionData is true for a StopTransaction's transactionData,
	// which carries Transaction.Begin and periodic readings together.
	TransactionData bool
	// Doc, when set, is put (as DocStore.PutDoc) in the same write as
	// the samples: an adapter's state of the transaction, such as the
	// 2.0.1 seqNos applied, is then on disk with them or not at all, for
	// one commit instead of two. Stores that keep documents (FullStore)
	// honour it.
	Doc *Doc
	// Cache, when set, is the sending connection's TxCache: the core
	// finds the transaction there when it is the one the connection's
	// last MeterValues named.
	Cache *TxCache
}

// MeterWrite is a MeterValues as the core folded it, for the store to
// persist (SessionStore.WriteMeterValues).
type MeterWrite struct {
	MeterValues
	// Seq is the primary key of the session the samples belong to
	// (Session.Seq); 0 stores them attached to no session, and Meter and
	// Version are not used.
	Seq int64
	// Version is the session's MeterVersion that Meter was folded from.
	Version int64
	// Meter is the session's meter with m's samples folded in.
	Meter Meter
}

// MeterWriterThen is a SessionStore that also takes a MeterValues write
// without its caller waiting for the commit (Service.MeterValuesThen):
// then gets WriteMeterValues' result once, on a goroutine of the store
// once the write is durable (then must not block, nor wait for the
// store), or on the caller's goroutine before WriteMeterValuesThen
// returns when the write was not queued. A batch of writes is then
// answered by one goroutine, instead of waking one waiting goroutine per
// write (#16).
type MeterWriterThen interface {
	WriteMeterValuesThen(ctx context.Context, w MeterWrite, then func(error))
}

// StopSession is a StopTransaction as the store needs it.
type StopSession struct {
	ChargerID     string
	TransactionID string
	MeterStopWh   int64
	EndedAt       time.Time
	Reason        string
	Status        SessionStatus
	IDTag         string
	ReceivedAt    time.Time
}

// SessionFilter selects sessions for a list.
type SessionFilter struct {
	Status    SessionStatus
	ChargerID string
	Limit     int
	Cursor    string
}

// ChargerEvent is something a charger reported that is kept as a record.
type ChargerEvent struct {
	ID        int64     `json:"id"`
	ChargerID string    `json:"charger_id"`
	Kind      string    `json:"kind"`
	Payload   []byte    `json:"payload"`
	At        time.Time `json:"at"`
}

// Event kinds recorded by the Service.
const (
	EventDataTransfer        = "DataTransfer"
	EventDiagnosticsStatus   = "DiagnosticsStatusNotification"
	EventFirmwareStatus      = "FirmwareStatusNotification"
	EventSecurityEvent       = "SecurityEventNotification"
	EventSignedFirmware      = "SignedFirmwareStatusNotification"
	EventLogStatus           = "LogStatusNotification"
	EventSignCertificate     = "SignCertificate"
	EventUnmatchedStop       = "UnmatchedStopTransaction"
	EventUnmatchedMeterValue = "UnmatchedMeterValues"
	EventToleratedInput      = "ToleratedInput"
)
