package charging

import "time"

// EventKind names a change the core announces to its listeners.
type EventKind string

// Event kinds.
const (
	// SessionChanged: a session was created or changed (status, energy).
	SessionChanged EventKind = "session"
	// ConnectorChanged: a connector's status changed.
	ConnectorChanged EventKind = "connector"
	// ChargerChanged: a charger booted or its details changed.
	ChargerChanged EventKind = "charger"
)

// Event is a committed change, as an EventPort delivers it.
type Event struct {
	// ID is the event's unique id (NewID()); JetStream's dedup key
	// (Nats-Msg-Id), and a handler's way to recognise a redelivery.
	ID   string
	Kind EventKind
	At   time.Time
	// SessionID names the session the event is about; "" for charger,
	// connector and tariff events.
	SessionID string
	// Seq is the event's number in its session's sequence: 1, 2, 3… in
	// the order of the session's changes (0 when SessionID is "").
	Seq int64
	// Pos is the event's position in the log, set by the log when it
	// delivers the event. In the SQLite log it increases along the
	// delivery order. In the PostgreSQL log it is the insert position,
	// and delivery follows commit order, which it does not always match
	// (see the store's doc): compare events by Pos only within a session,
	// or use Seq.
	Pos       int64
	ChargerID string
	// Session is the session as committed, in the events a Listener gets
	// in process (Service.Subscribe), except telemetry (MeterValues), where
	// it is nil and SessionID (with TransactionID) names the session:
	// fetching it on every sample would cost a query per message on the
	// hottest path. Events
	// read from an EventPort (the stores' log) carry no Session: they name
	// it by SessionID (and TransactionID once it has one), and a consumer
	// reads the session as it is when it handles the event.
	Session       *Session
	TransactionID string
	Connector     *Connector
	// TariffID names the tariff of a TariffChanged event.
	TariffID string
}

// Listener receives events in process (Service.Subscribe): the live feed of
// every change, telemetry included, for dashboards, metrics and load
// management. It must not block. A listener misses what happens while the
// process is down; work that must not be lost (pricing, OCPI and Beckn
// notifications) consumes the EventPort instead.
type Listener func(Event)
