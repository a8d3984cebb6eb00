package server

import (
	"context"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/cluster"
)

// joinEvents gives a node of a cluster (--nats) the JetStream event port:
// the store's log stays the outbox, relayed to the stream by the node
// that leads the job on the database (charging.Elector), and the durable
// consumers (pricer, ocpi, beckn, ocpi-tariffs) are shared by the nodes,
// each event handled by one of them. Without --nats nothing changes.
func (s *Server) joinEvents(ctx context.Context) error {
	if s.cluster.node == nil {
		return nil
	}
	log, ok := s.store.(charging.EventPort)
	if !ok {
		return nil
	}
	leader, _ := s.store.(charging.Elector)
	ev, err := s.cluster.node.Events(ctx, cluster.EventsConfig{Store: log, Leader: leader, Log: s.log})
	if err != nil {
		return err
	}
	s.clusterEvents = ev
	return nil
}

// events is the one event port of the server's consumers and announcers:
// the cluster's with --nats, else the store's log; nil when the store has
// none.
func (s *Server) events() charging.EventPort {
	if s.clusterEvents != nil {
		return s.clusterEvents
	}
	ep, _ := s.store.(charging.EventPort)
	return ep
}

// relayEvents is the component that publishes the store's log to the
// cluster's stream (nil alone).
func (s *Server) relayEvents() *component {
	if s.clusterEvents == nil {
		return nil
	}
	return &component{name: "event relay", run: s.clusterEvents.Relay, late: true}
}

// Events returns the server's event port (the cluster's with --nats, else
// the store's log; nil when the store has none).
func (s *Server) Events() charging.EventPort { return s.events() }
