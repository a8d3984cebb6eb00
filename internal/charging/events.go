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

// Event is a committed change. Listeners get it after the change is
// durable; they must not block (queue work of their own instead).
type Event struct {
	Kind      EventKind
	At        time.Time
	ChargerID string
	// Session is the session as committed. For telemetry (MeterValues) it
	// is nil and TransactionID names the session instead: fetching it on
	// every sample would cost a query per message on the hottest path, and
	// listeners that need it fetch it at their own pace.
	Session       *Session
	TransactionID int64
	Connector     *Connector
}

// Listener receives events.
type Listener func(Event)
