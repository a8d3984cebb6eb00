package cluster

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ConnectedSet returns every charger a live node of the cluster holds:
// one pass over the presence bucket's records (each believed while its
// node's run has a heartbeat, as Holder does) and this node's own, for
// views of the whole fleet, which would otherwise cost a lookup per
// charger.
func (n *Node) ConnectedSet(ctx context.Context) (map[string]bool, error) {
	if err := n.Ready(); err != nil {
		return nil, err
	}
	nodes, err := n.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	live := make(map[string]string, len(nodes))
	for _, info := range nodes {
		live[info.ID] = info.Run
	}
	live[n.cfg.NodeID] = n.run
	w, err := n.presence.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("cluster presence: %w", err)
	}
	defer w.Stop()
	out := map[string]bool{}
	for {
		var kve jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case kve = <-w.Updates():
		}
		if kve == nil {
			break // every record as it is now was delivered
		}
		var e Entry
		if json.Unmarshal(kve.Value(), &e) == nil && e.Charger != "" && live[e.Node] == e.Run {
			out[e.Charger] = true
		}
	}
	n.mu.Lock()
	for id := range n.held {
		out[id] = true
	}
	n.mu.Unlock()
	return out, nil
}
