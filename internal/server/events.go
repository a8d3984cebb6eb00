package server

import (
	"context"
	"errors"

	"github.com/chargebridge/chargebridge/internal/api"
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
	// Meter values are not in the log: they reach the other nodes'
	// dashboards over NATS directly (cluster.Node.PublishLive).
	node := s.cluster.node
	s.svc.Subscribe(func(e charging.Event) {
		if e.Kind == charging.SessionChanged && e.Session == nil && e.TransactionID != "" {
			node.PublishLive(e)
		}
	})
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

// remoteDashboard is the component that shows on this node's dashboard the
// changes of chargers other nodes hold, from the cluster's stream, and
// their meter values, from the nodes that hold them (this node's own come
// in process); nil alone.
func (s *Server) remoteDashboard() *component {
	if s.clusterEvents == nil || s.web == nil {
		return nil
	}
	return &component{name: "dashboard events", run: func(ctx context.Context) error {
		stop, err := s.cluster.node.SubscribeLive(func(e charging.Event) {
			if s.web.Watched() {
				s.web.Show(e)
			}
		})
		if err != nil {
			return err
		}
		defer stop()
		return s.clusterEvents.Consume(ctx, "", s.showRemote)
	}}
}

// showRemote shows e on the dashboard when a browser watches and the
// charger is not this node's. A session event names its session, read
// here as it is now; one that cannot be read is not shown (the stream is
// a live view, not a record).
func (s *Server) showRemote(ctx context.Context, e charging.Event) error {
	if e.Kind == charging.TariffChanged || !s.web.Watched() || e.ChargerID != "" && s.ocpp.Connected(e.ChargerID) {
		return nil
	}
	if e.Kind == charging.SessionChanged && e.Session == nil {
		if e.SessionID == "" {
			return nil
		}
		ses, err := s.svc.Store().GetSession(ctx, e.SessionID)
		if err != nil {
			if !errors.Is(err, charging.ErrNotFound) && ctx.Err() == nil {
				s.log.Debug("a session changed on another node could not be read for the dashboard", "session", e.SessionID, "err", err)
			}
			return nil
		}
		e.Session = &ses
	}
	s.web.Show(e)
	return nil
}

// consumerLag lists the durable consumers of the cluster's event stream
// and their lag (none alone).
func (s *Server) consumerLag(ctx context.Context) ([]api.ClusterConsumer, error) {
	if s.clusterEvents == nil {
		return nil, nil
	}
	lag, err := s.clusterEvents.Lag(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.ClusterConsumer, 0, len(lag))
	for _, l := range lag {
		out = append(out, api.ClusterConsumer{Name: l.Name, Pending: l.Pending, AckPending: l.AckPending})
	}
	return out, nil
}
