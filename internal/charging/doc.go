// Package charging is chargebridge's domain core: charge points, connectors,
// id tokens, charging sessions and their meter samples, the session state
// machine, and the two ports through which the rest of the system commands
// chargers and follows what happens. It imports no protocol, HTTP or SQL
// package (deps_test.go enforces this); OCPP, OCPI, Beckn and the API are
// adapters around it.
//
// Model (model.go, sample.go). The unit the core addresses is the EVSE (a
// 1.6 connector n is EVSE n, connector 1); stores keep each connector of
// an EVSE, a Charger's Connectors are its EVSEs folded (FoldEVSE). A
// connector's state is an Availability and a ConnectorState the adapter
// maps; Status is derived (StatusOf). An IDTag is a typed token (up to 36
// characters). A Session, on a connector of an EVSE, is the canonical
// session of any protocol: status, id tag, meter start and stop in Wh, the
// highest register, power, SoC, flags for readings kept but not applied.
// Samples are in canonical units (kWh, kW, A, V, %), the raw value beside.
//
// State machine (machine.go, fold.go), plain functions over values.
// Transitions is the table of DESIGN.md: event × status → status, with the
// stop reason a transition sets (reservation cancelled or expired →
// completed, remote start timed out → invalid, a later start on the
// connector → interrupted, …). Next looks a pair up (ErrConflict when the
// event does not apply), Step applies it, ApplyStop applies a stop (an
// ended session keeps its status but takes the readings; a repeated stop
// changes nothing). Fold folds a MeterValues into a session: the highest
// plausible register, the power and SoC of the newest sample, the peak
// power; an implausible or backwards register, or Begin and periodic
// readings in one message, is returned as an Anomaly and flagged, never
// applied. The Service sets statuses by Next; stores select by StatusesFrom,
// SupersededStatus, OpenStatuses and spell no status; a stop is ApplyStop's
// on the session as read. The Service folds MeterValues (screen.go); stores
// write by primary key over the MeterVersion read (compare and set).
//
// Adapters call the Service (service.go, lifecycle.go) with what chargers
// report and what answered commands mean; it keeps state through store.go.
//
// Command port (commands.go). Commands is what OCPI, Beckn, the API, the CLI
// and the dashboard ask of a charger, in core terms: start and stop
// charging, reserve, cancel, unlock, reset, change availability, set a
// charging limit. A nil error means the charger took the command; otherwise
// errors.Is matches one of CommandErrors (ErrNotConnected, ErrTimeout,
// ErrRejected with a *Rejection, ErrChargerError, …), which each edge maps
// to its own codes in one table. CommandRouter hands each command to the
// adapter of the subprotocol the charger negotiated, Offline when none.
//
// Event port (eventport.go). EventPort is a log of committed changes:
// a store writes a change's Event in the change's own transaction (an
// outbox), consumers read it in order at their own pace and a named
// consumer resumes after a restart; delivery is at least once, so handlers
// are idempotent on Event.ID or SessionID+Seq. The stores' log and its NATS
// JetStream relay (internal/cluster, with --nats) are interchangeable
// behind it.
//
// A new protocol version plugs in as a package beside internal/ocpp/ocpp16
// and ocpp201: an ocpp.Handler registered with ocpp.Server under its
// subprotocol, which turns its messages into Service calls (with its own
// ConnectorSplit, StopStatus and StartRequest.Key: 1.6 the StartTransaction
// fields, 2.0.1 the transactionId), and a Port implementing Commands, added
// to the CommandRouter under the same name. Nothing in the core changes.
package charging
