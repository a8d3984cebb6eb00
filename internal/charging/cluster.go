package charging

import (
	"context"
	"time"
)

// Several nodes may share one store (PostgreSQL). Work that must happen
// once across them goes through the ports below, which the stores
// implement: on PostgreSQL they hold across every process on the
// database, on SQLite (one process) they hold within the process.

// Locker serializes work on one key (a Beckn order) across every node
// sharing the store.
type Locker interface {
	// Lock waits until no other holder (on any node) has key, or until
	// ctx ends; unlock gives it up and must be called exactly once. A
	// node that dies holding a key loses it at once.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// Sequencer draws numbers for ordering and naming work (OCPI outbox
// entries) that no two nodes sharing the store ever draw twice.
type Sequencer interface {
	// NextSeq returns a number larger than any it returned before, on
	// any node sharing the store.
	NextSeq(ctx context.Context) (int64, error)
}

// Leases hands out named leases that expire: a queue only one node may
// work on at a time (an OCPI party's pushes) is worked by the lease's
// holder, and taken over by another node when the holder stops renewing
// it (it died). Expiry is measured on the store's clock.
type Leases interface {
	// AcquireLease takes the lease name for holder, or renews it when
	// holder has it, until ttl from now; it reports whether holder has
	// it. It is taken from another holder only once that one's expired.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder has it.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Elector elects, among the nodes sharing the store, the one that runs a
// periodic job (reservation expiry): each tick every node asks, and only
// the leader runs the job.
type Elector interface {
	// Lead reports whether this node leads job now. Once it does it keeps
	// leading until its connection to the store drops (it died, or the
	// store closed), and then another node's next Lead takes over at once.
	// On an error the node does not lead.
	Lead(ctx context.Context, job string) (bool, error)
}
