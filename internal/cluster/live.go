package cluster

import (
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// Live telemetry. Meter values are not in the event log (a row per sample
// would double the hottest write), so they cannot reach other nodes
// through the event stream. A node publishes the telemetry events of the
// chargers it holds on core NATS, subject <cluster>.live.<node>, at most once and
// kept nowhere: a dashboard that misses one shows the next. Every node
// listens to the others' for its dashboard.

// PublishLive sends a telemetry event of a charger this node holds to the
// other nodes' dashboards. It never blocks on the network (NATS buffers
// it); an event that cannot be sent is dropped.
func (n *Node) PublishLive(e charging.Event) {
	if e.ID == "" {
		e.ID = charging.NewID()
	}
	data, err := encodeEvent(e)
	if err != nil {
		return
	}
	_ = n.nc.Publish(n.names.live+n.cfg.NodeID, data)
}

// SubscribeLive hands f the telemetry events the other nodes publish,
// one at a time, until stop is called. f must not block for long.
func (n *Node) SubscribeLive(f func(charging.Event)) (stop func(), err error) {
	self := n.names.live + n.cfg.NodeID
	sub, err := n.nc.Subscribe(n.names.live+"*", func(m *nats.Msg) {
		if m.Subject == self {
			return
		}
		e, err := decodeEvent(m.Data)
		if err != nil {
			return
		}
		f(e)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to other nodes' telemetry: %w", err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Notices. A node tells the others about a change that is in no event
// (a site stored through its API, a charger's socket opening or closing)
// on core NATS, subject <cluster>.note.<topic>: at most once and kept nowhere, so
// a listener must also be able to catch up from the store (load
// management reloads its sites periodically).

// Notify sends data on topic to every node listening, this one too. It
// never blocks on the network; a notice that cannot be sent is dropped.
func (n *Node) Notify(topic string, data []byte) {
	_ = n.nc.Publish(n.names.note+Token(topic), data)
}

// SubscribeNotices hands f the notices on topic, from every node (this one
// too), one at a time, until stop is called. f must not block for long.
func (n *Node) SubscribeNotices(topic string, f func(data []byte)) (stop func(), err error) {
	sub, err := n.nc.Subscribe(n.names.note+Token(topic), func(m *nats.Msg) { f(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("subscribe to the cluster's %s notices: %w", topic, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}
