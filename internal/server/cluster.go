package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/cluster"
)

// clusterPart is this node's part in a cluster (--nats): node is nil when
// the node runs alone.
type clusterPart struct {
	node *cluster.Node
	// local is the node's own command router, which runs the commands
	// other nodes forward here.
	local   charging.Commands
	started time.Time
}

// validateCluster checks --nats, --node-id and --cluster-name.
func (c *Config) validateCluster() error {
	if c.NodeID != "" {
		if err := cluster.ValidateNodeID(c.NodeID); err != nil {
			return fmt.Errorf("--node-id: %w", err)
		}
	}
	if c.ClusterName != "" {
		if err := cluster.ValidateName(c.ClusterName); err != nil {
			return fmt.Errorf("--cluster-name: %w", err)
		}
	}
	if c.NATS == "" {
		return nil
	}
	if strings.HasPrefix(c.DB, "sqlite:") {
		return fmt.Errorf("--nats needs --db postgres://…: the nodes of a cluster share one PostgreSQL database, and a SQLite file belongs to one process")
	}
	for _, u := range strings.Split(c.NATS, ",") {
		if !strings.Contains(u, "://") {
			return fmt.Errorf("--nats %q: use a NATS URL such as nats://127.0.0.1:4222", cluster.RedactURL(c.NATS))
		}
	}
	return nil
}

// joinCluster names the node and, with --nats, joins the cluster: the
// command port becomes the cluster's router over the local one, so a
// command for a charger another node holds is forwarded there.
func (s *Server) joinCluster(ctx context.Context) error {
	s.cluster.started = time.Now().UTC()
	if s.cfg.NodeID == "" {
		s.cfg.NodeID = cluster.DefaultNodeID()
	}
	if s.cfg.NATS == "" {
		return nil
	}
	n, err := cluster.Join(ctx, cluster.Config{
		URL: s.cfg.NATS, NodeID: s.cfg.NodeID, Name: s.cfg.ClusterName, CallTimeout: s.cfg.CallTimeout, Local: s.ocpp.Connected, Log: s.log,
		Observe: func(phase string, d time.Duration) { s.met.forward.WithLabelValues(phase).Observe(d.Seconds()) },
		// The charger connected to another node since: this socket is
		// half-open (the newest connection wins, as on one node).
		// (With --refuse-duplicates the first connection is to stay: a
		// second one on another node is not refused yet, and not
		// evicting keeps the first.)
		Evict: func(id string) {
			if c, ok := s.ocpp.Conn(id); ok && !s.cfg.RefuseDuplicates {
				c.Close(ws.StatusPolicyViolation, "replaced by a connection to another node")
			}
		},
	})
	if err != nil {
		return err
	}
	s.cluster.node, s.cluster.local = n, s.commands
	s.commands = cluster.NewRouter(n, s.commands, s.svc.Store())
	s.log.Info("joined the cluster", "node", n.ID(), "nats", cluster.RedactURL(s.cfg.NATS))
	return nil
}

// runCluster answers the commands other nodes forward here (with the
// local router) and keeps this node's presence entries alive until ctx
// ends; then the node leaves.
func (s *Server) runCluster(ctx context.Context) error {
	if err := s.cluster.node.Start(s.cluster.local, rawCommands{s}); err != nil {
		return err
	}
	<-ctx.Done()
	s.cluster.node.Close()
	return nil
}

// leaveCluster closes the node's NATS connection (once; Shutdown of a
// server that never started).
func (s *Server) leaveCluster() {
	if s.cluster.node != nil {
		s.cluster.node.Close()
	}
}

// rawSender is the API's expert endpoint: this node's commanders, or in a
// cluster the node that holds the charger.
func (s *Server) rawSender() api.RawCommander {
	if s.cluster.node != nil {
		return cluster.NewRawRouter(s.cluster.node, rawCommands{s})
	}
	return rawCommands{s}
}

// clusterReady fails when the node cannot reach NATS.
func (s *Server) clusterReady() error {
	if s.cluster.node == nil {
		return nil
	}
	return s.cluster.node.Ready()
}

// holdCharger and releaseCharger record a charger's socket opening and
// closing here in the cluster's presence.
func (s *Server) holdCharger(id string) {
	if s.cluster.node != nil {
		// The handshake does not wait for the record's write: the
		// connection reads its first calls at once.
		s.cluster.node.HoldSoon(id)
	}
}

func (s *Server) releaseCharger(id string) {
	if s.cluster.node != nil {
		s.cluster.node.Release(id)
	}
}

// chargerPresence tells whether a charger is connected: to this node, or,
// in a cluster, to any node.
func (s *Server) chargerPresence() interface{ Connected(string) bool } {
	if s.cluster.node != nil {
		return s.cluster.node
	}
	return s.ocpp
}

// apiPresence is the operator API's view of connections: in a cluster a
// charger on another node is connected too (one presence lookup per
// charger shown; its protocol is known on its own node only).
func (s *Server) apiPresence() api.Presence {
	if s.cluster.node == nil {
		return s.ocpp
	}
	return clusterPresence{s}
}

type clusterPresence struct{ s *Server }

func (p clusterPresence) Connected(id string) bool  { return p.s.cluster.node.Connected(id) }
func (p clusterPresence) Protocol(id string) string { return p.s.ocpp.Protocol(id) }

// ConnectedSet is every charger a live node holds (the dashboard's pages
// of the whole fleet).
func (p clusterPresence) ConnectedSet(ctx context.Context) (map[string]bool, error) {
	return p.s.cluster.node.ConnectedSet(ctx)
}

// presenceVersion changes whenever the cluster's presence records do (nil
// on a single node, where the count of this node's sockets says it all).
func (s *Server) presenceVersion() func() uint64 {
	if s.cluster.node == nil {
		return nil
	}
	return s.cluster.node.PresenceVersion
}

// onlineCount is how many chargers are connected: to this node, or in a
// cluster to any node, from the nodes' heartbeats (each carries its
// count), asked at most every onlineEvery (the dashboard polls it per
// viewer).
func (s *Server) onlineCount() func() int64 {
	local := func() int64 { return s.ocpp.Stats().Connected.Load() }
	if s.cluster.node == nil {
		return local
	}
	var (
		mu    sync.Mutex
		n     int64
		asked time.Time
	)
	return func() int64 {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(asked) < onlineEvery {
			return n
		}
		asked = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		nodes, err := s.cluster.node.Nodes(ctx)
		if err != nil {
			n = local() // NATS does not answer: this node's own
			return n
		}
		total := int64(0)
		for _, info := range nodes {
			if info.ID == s.cfg.NodeID {
				total += local()
			} else {
				total += int64(info.Chargers)
			}
		}
		n = total
		return n
	}
}

// onlineEvery is how long the cluster's count of connected chargers is
// reused.
const onlineEvery = 2 * time.Second

// clusterView is the API's GET /api/v1/cluster.
type clusterView struct{ s *Server }

func (v clusterView) ClusterStatus(ctx context.Context) (api.ClusterStatus, error) {
	s := v.s
	self := api.ClusterNode{ID: s.cfg.NodeID, Chargers: int(s.ocpp.Stats().Connected.Load()), StartedAt: s.cluster.started, LastSeen: time.Now().UTC(), Self: true}
	if s.cluster.node == nil {
		return api.ClusterStatus{Mode: "single", Node: self.ID, Nodes: []api.ClusterNode{self}}, nil
	}
	nodes, err := s.cluster.node.Nodes(ctx)
	if err != nil {
		return api.ClusterStatus{}, err
	}
	out := api.ClusterStatus{Mode: "nats", Node: self.ID, Nodes: []api.ClusterNode{}}
	// This node answers, so it is listed even when its heartbeat is not
	// in the bucket at this moment (being rewritten after it lapsed).
	self.Chargers = s.cluster.node.Held()
	listed := false
	for _, n := range nodes {
		if n.ID == self.ID {
			out.Nodes = append(out.Nodes, self)
			listed = true
			continue
		}
		out.Nodes = append(out.Nodes, api.ClusterNode{ID: n.ID, Chargers: n.Chargers, StartedAt: n.StartedAt, LastSeen: n.LastSeen})
	}
	if !listed {
		i, _ := slices.BinarySearchFunc(out.Nodes, self.ID, func(n api.ClusterNode, id string) int { return strings.Compare(n.ID, id) })
		out.Nodes = slices.Insert(out.Nodes, i, self)
	}
	if out.Consumers, err = s.consumerLag(ctx); err != nil {
		return api.ClusterStatus{}, err
	}
	return out, nil
}
