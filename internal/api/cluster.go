package api

import (
	"context"
	"net/http"
	"time"
)

// ClusterNode is one node of the cluster as GET /api/v1/cluster shows it:
// how many chargers' sockets it held when it was last seen.
type ClusterNode struct {
	ID        string    `json:"id"`
	Chargers  int       `json:"chargers"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
	// Self marks the node that answered.
	Self bool `json:"self"`
}

// ClusterStatus is the answer of GET /api/v1/cluster. Mode is "single" for
// a node that runs alone (no --nats) and "nats" for a node of a cluster.
type ClusterStatus struct {
	Mode  string        `json:"mode"`
	Node  string        `json:"node"`
	Nodes []ClusterNode `json:"nodes"`
	// Consumers are the durable event consumers the nodes share (with
	// --nats) and their lag.
	Consumers []ClusterConsumer `json:"consumers,omitempty"`
}

// ClusterConsumer is a durable consumer of the cluster's event stream:
// Pending events not delivered yet, AckPending delivered to a node and not
// acknowledged yet.
type ClusterConsumer struct {
	Name       string `json:"name"`
	Pending    uint64 `json:"pending"`
	AckPending int    `json:"ack_pending"`
}

// Cluster tells which nodes serve the fleet.
type Cluster interface {
	ClusterStatus(ctx context.Context) (ClusterStatus, error)
}

// WithCluster enables GET /api/v1/cluster.
func (a *API) WithCluster(c Cluster) *API {
	a.cluster = c
	return a
}

func (a *API) getCluster(w http.ResponseWriter, r *http.Request) {
	if a.cluster == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "the cluster view is not available on this server"})
		return
	}
	st, err := a.cluster.ClusterStatus(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
