package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
)

// runCluster lists the nodes that serve the fleet, through the running
// server's GET /api/v1/cluster.
func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("cluster", "[flags]", "Lists the nodes that serve the fleet (serve --nats): each node's id, the chargers it holds, when it started and when it was last seen, then the event consumers the nodes share and their lag. A server without --nats shows itself alone.", stdout)
	asJSON := f.Bool("json", false, "print JSON (for scripts) instead of a table")
	client := apiFlags(f)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("usage: chargebridge cluster [flags]")
	}
	var st api.ClusterStatus
	if err := client().do(ctx, "GET", "/api/v1/cluster", nil, &st); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, st)
	}
	if st.Mode == "single" {
		fmt.Fprintf(stdout, "node %s runs alone (no --nats)\n", st.Node)
	}
	t := table(stdout, "NODE", "CHARGERS", "STARTED", "LAST SEEN")
	for _, n := range st.Nodes {
		id := n.ID
		if n.Self {
			id += " (answered)"
		}
		t.row(id, strconv.Itoa(n.Chargers), n.StartedAt.UTC().Format(time.RFC3339), n.LastSeen.UTC().Format(time.RFC3339))
	}
	if err := t.flush(); err != nil || len(st.Consumers) == 0 {
		return err
	}
	fmt.Fprintln(stdout)
	t = table(stdout, "CONSUMER", "PENDING", "UNACKNOWLEDGED")
	for _, c := range st.Consumers {
		t.row(c.Name, strconv.FormatUint(c.Pending, 10), strconv.Itoa(c.AckPending))
	}
	return t.flush()
}
