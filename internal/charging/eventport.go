package charging

import "context"

// TariffChanged: a tariff was created, replaced or deleted; Event.TariffID
// names it.
const TariffChanged EventKind = "tariff"

// EventPort is where the core announces committed changes and consumers read
// them. It is a log: every event has a position, consumers read it in order
// at their own pace, and a durable consumer resumes after a restart from the
// last event it acknowledged.
//
// Two implementations exist, and consumers must not know which one they
// get: the stores' in-process log (the events are rows of an outbox table
// written in the same transaction as the change they describe, read back in
// commit order), and a NATS JetStream one for several nodes
// (internal/cluster.Events), which relays that table to a stream
// (Nats-Msg-Id = Event.ID) with durable consumers by name, each shared by
// the nodes so that an event is handled by one of them.
//
// Delivery is at least once: a handler may see an event again after a crash
// between its side effect and the acknowledgement, so handlers are
// idempotent (Event.ID, or Event.SessionID with Event.Seq, tell a repeat).
type EventPort interface {
	// Publish appends e for a change that is not part of a store write
	// (e.g. a tariff change). Events that describe a store change are
	// written by the store in the change's own transaction. Publish sets
	// e.ID when it is empty.
	Publish(ctx context.Context, e Event) error
	// Consume delivers to h, in log order, every event the durable
	// consumer name has not acknowledged, then new ones as they come,
	// until ctx is done (returns ctx.Err()). An event is acknowledged
	// when h returns nil; an error redelivers it after a backoff (logged).
	// It never drops and never blocks the writer. name == "" means an
	// ephemeral consumer that starts at the log's end (dashboards).
	Consume(ctx context.Context, name string, h func(context.Context, Event) error) error
}
