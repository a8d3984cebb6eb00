package web

import (
	"net/http"

	"github.com/chargebridge/chargebridge/internal/api"
)

// clusterData is the cluster page's data.
type clusterData struct {
	Status api.ClusterStatus
	Err    string
}

// clusterPage shows the nodes that serve the fleet (GET /api/v1/cluster as
// a page).
func (d *Dashboard) clusterPage(w http.ResponseWriter, r *http.Request) {
	var data clusterData
	if d.cluster == nil {
		data.Err = "The cluster view is not available on this server."
	} else if st, err := d.cluster.ClusterStatus(r.Context()); err != nil {
		d.log.Warn("cluster page: nodes not listed", "err", err)
		data.Err = "The nodes could not be listed: " + err.Error()
	} else {
		data.Status = st
	}
	d.render(w, r, http.StatusOK, "cluster", "Cluster", "cluster", data)
}
