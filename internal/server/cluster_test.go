package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/sim"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

func TestClusterOfOneWithoutNATS(t *testing.T) {
	s := cbtest.Start(t, cbtest.Configure(func(c *server.Config) { c.NodeID = "solo" }))
	var st api.ClusterStatus
	if code := s.GetJSON("/api/v1/cluster", &st); code != http.StatusOK {
		t.Fatalf("GET /api/v1/cluster: HTTP %d", code)
	}
	if st.Mode != "single" || st.Node != "solo" || len(st.Nodes) != 1 || !st.Nodes[0].Self || st.Nodes[0].ID != "solo" {
		t.Fatalf("cluster = %+v; want node solo alone, mode single", st)
	}
	if page := getPage(t, s, "/cluster"); !strings.Contains(page, `data-node="solo"`) || !strings.Contains(page, "runs alone") {
		t.Fatalf("the cluster page does not show node solo alone:\n%s", page)
	}
}

func TestClusterConfig(t *testing.T) {
	base := server.Config{HTTP: "127.0.0.1:0", DB: "sqlite:x.db", HeartbeatInterval: time.Minute, LogLevel: "info", LogFormat: "text"}
	tests := []struct {
		name string
		edit func(*server.Config)
		want string // "" for valid
	}{
		{"sqlite-alone", func(*server.Config) {}, ""},
		{"sqlite-with-nats", func(c *server.Config) { c.NATS = "nats://127.0.0.1:4222" }, "--nats needs --db postgres://"},
		{"postgres-with-nats", func(c *server.Config) { c.DB = "postgres://u@h/db"; c.NATS = "nats://127.0.0.1:4222" }, ""},
		{"nats-not-a-url", func(c *server.Config) { c.DB = "postgres://u@h/db"; c.NATS = "127.0.0.1:4222" }, "use a NATS URL"},
		{"node-id-with-a-dot", func(c *server.Config) { c.NodeID = "node.1" }, "--node-id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v; want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate: %v; want an error with %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("Validate: %q is more than one line", err)
			}
		})
	}
}

// startNode runs a node of a cluster on the shared database and NATS.
func startNode(t *testing.T, dsn, natsURL, id string) *cbtest.Server {
	t.Helper()
	return cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) {
		c.DB, c.NATS, c.NodeID, c.AcceptUnknownTags = dsn, natsURL, id, true
	}))
}

// clusterSim runs a simulated charger on node s until stop is called; a
// charger that loses its connection tries again after reconnect.
func clusterSim(t *testing.T, s *cbtest.Server, id string, reconnect time.Duration) (stop func()) {
	t.Helper()
	ch, err := sim.NewCharger(sim.Config{
		URL: s.WSURL(), Connectors: 2, NoAutoStart: true, TimeScale: 60,
		MeterInterval: 100 * time.Millisecond, StepTime: time.Minute, Energy: sim.KWhRange{Min: 500, Max: 500},
		ReconnectMin: reconnect, ReconnectMax: reconnect,
	}, id)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ch.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	waitFor(t, "charger "+id+" to boot on node "+s.Config.NodeID, func() bool {
		var c api.Charger
		return s.GetJSON("/api/v1/chargers/"+id, &c) == http.StatusOK && c.Connected && c.BootStatus == charging.BootAccepted
	})
	return stop
}

// TestCommandsReachAChargerOnAnotherNode runs two nodes on one PostgreSQL
// database and one NATS server: a charger on node a is commanded through
// node b's API and answers; it moves to b and is commanded through a; an
// unknown charger is a 404 on either, as on a single node.
func TestCommandsReachAChargerOnAnotherNode(t *testing.T) {
	dsn := pgtest.Schema(t)
	ns := natstest.Start(t)
	a := startNode(t, dsn, ns.URL(), "a")
	b := startNode(t, dsn, ns.URL(), "b")
	const cp = "CP-CLUSTER"
	// Once on b, it does not come back to a by itself (a socket left
	// half-open when the charger's network changed).
	clusterSim(t, a, cp, time.Hour)

	t.Run("unlock-through-b", func(t *testing.T) {
		var res charging.CommandResult
		if code := b.PostJSON("/api/v1/chargers/"+cp+"/actions/unlock", map[string]any{"connector_id": 1}, &res); code != http.StatusOK {
			t.Fatalf("unlock through b: HTTP %d", code)
		}
		if res.Status != charging.CommandAccepted || res.Answer != "Unlocked" {
			t.Fatalf("unlock through b = %+v; want accepted, Unlocked", res)
		}
	})
	t.Run("rejection-through-b-keeps-the-answer", func(t *testing.T) {
		var out map[string]any
		code := b.PostJSON("/api/v1/chargers/"+cp+"/actions/unlock", map[string]any{"connector_id": 9}, &out)
		if code != http.StatusConflict && code != http.StatusNotImplemented {
			t.Fatalf("unlock of connector 9 through b: HTTP %d %v; want the single node's 409 or 501", code, out)
		}
		if out["answer"] == nil || out["answer"] == "" {
			t.Fatalf("unlock of connector 9 through b = %v; want the charger's answer", out)
		}
	})
	t.Run("start-and-stop-through-b", func(t *testing.T) {
		var res charging.CommandResult
		if code := b.PostJSON("/api/v1/chargers/"+cp+"/actions/start", map[string]any{"connector_id": 1, "id_tag": "CLUSTER-TAG"}, &res); code != http.StatusOK {
			t.Fatalf("start through b: HTTP %d %+v", code, res)
		}
		if res.SessionID == "" {
			t.Fatalf("start through b = %+v; want the session it created", res)
		}
		// The session the start created, or (a quick charger) the one its
		// StartTransaction opened.
		var active string
		waitFor(t, "a session to be active", func() bool {
			for _, s := range sessionsOf(t, b, cp) {
				if s.Status == charging.SessionActive {
					active = s.ID
				}
			}
			return active != ""
		})
		var stop charging.CommandResult
		if code := b.PostJSON("/api/v1/sessions/"+active+"/stop", nil, &stop); code != http.StatusOK || stop.Status != charging.CommandAccepted {
			t.Fatalf("stop through b: HTTP %d %+v", code, stop)
		}
		waitFor(t, "the session to complete", func() bool {
			var s api.Session
			return a.GetJSON("/api/v1/sessions/"+active, &s) == http.StatusOK && s.Status == charging.SessionCompleted
		})
	})
	t.Run("connected-through-b", func(t *testing.T) {
		var c api.Charger
		if code := b.GetJSON("/api/v1/chargers/"+cp, &c); code != http.StatusOK || !c.Connected {
			t.Fatalf("GET charger through b: HTTP %d connected %v; want connected (on a)", code, c.Connected)
		}
		var out map[string]any
		if code := b.Do("DELETE", "/api/v1/chargers/"+cp, nil, &out); code != http.StatusConflict {
			t.Fatalf("DELETE a charger connected to a, through b: HTTP %d %v; want 409 as on one node", code, out)
		}
	})
	t.Run("raw-message-through-b", func(t *testing.T) {
		st, out := command(t, b, cp, "GetConfiguration", `{"key":["HeartbeatInterval"]}`)
		if st != http.StatusOK || out["configurationKey"] == nil {
			t.Fatalf("GetConfiguration through b: HTTP %d %v; want the charger's configuration", st, out)
		}
	})
	t.Run("unknown-charger", func(t *testing.T) {
		for _, n := range []*cbtest.Server{a, b} {
			var out map[string]any
			if code := n.PostJSON("/api/v1/chargers/NO-SUCH-CP/actions/unlock", map[string]any{"connector_id": 1}, &out); code != http.StatusNotFound {
				t.Errorf("unlock of an unknown charger through %s: HTTP %d %v; want 404", n.Config.NodeID, code, out)
			}
		}
	})
	t.Run("cluster-view", func(t *testing.T) {
		var st api.ClusterStatus
		waitFor(t, "b to see a's charger count", func() bool {
			st = api.ClusterStatus{}
			return b.GetJSON("/api/v1/cluster", &st) == http.StatusOK && len(st.Nodes) > 0 && st.Nodes[0].Chargers == 1
		})
		if st.Mode != "nats" || st.Node != "b" || len(st.Nodes) != 2 {
			t.Fatalf("cluster through b = %+v; want nodes a and b", st)
		}
		if st.Nodes[0].ID != "a" || st.Nodes[0].Chargers != 1 || st.Nodes[0].Self || st.Nodes[1].ID != "b" || !st.Nodes[1].Self {
			t.Fatalf("cluster through b = %+v; want a holding 1 charger, b itself", st.Nodes)
		}
		if page := getPage(t, b, "/cluster"); !strings.Contains(page, `data-node="a" data-chargers="1"`) || !strings.Contains(page, `data-node="b"`) {
			t.Fatalf("b's cluster page does not show a with its charger and b:\n%s", page)
		}
	})

	// The charger connects to b while a still holds its old socket: a
	// closes that socket, and a command through a reaches it on b.
	clusterSim(t, b, cp, 50*time.Millisecond)
	waitFor(t, "a to close its old socket", func() bool { return !a.OCPP().Connected(cp) })
	// b's API says connected once the socket is registered; its presence
	// entry follows within the write to NATS.
	waitFor(t, "the cluster to see the charger on b", func() bool {
		var st api.ClusterStatus
		return a.GetJSON("/api/v1/cluster", &st) == http.StatusOK && len(st.Nodes) == 2 && st.Nodes[0].Chargers == 0 && st.Nodes[1].Chargers == 1
	})
	t.Run("unlock-through-a-after-the-move", func(t *testing.T) {
		var out map[string]any
		if code := a.PostJSON("/api/v1/chargers/"+cp+"/actions/unlock", map[string]any{"connector_id": 2}, &out); code != http.StatusOK || out["answer"] != "Unlocked" {
			t.Fatalf("unlock through a: HTTP %d %v; want Unlocked", code, out)
		}
	})
	t.Run("ready", func(t *testing.T) {
		for _, n := range []*cbtest.Server{a, b} {
			resp, err := n.HTTP.Get(n.URL() + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s /readyz: HTTP %d; want 200", n.Config.NodeID, resp.StatusCode)
			}
		}
	})
}
