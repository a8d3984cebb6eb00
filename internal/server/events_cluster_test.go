package server_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/cluster"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// seen collects the events a node's consumer handles.
type seen struct {
	mu  sync.Mutex
	got map[string][]string // event id -> nodes that handled it
	by  map[string][]charging.Event
}

func (s *seen) add(node string, e charging.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got[e.ID] = append(s.got[e.ID], node)
	s.by[node] = append(s.by[node], e)
}

// sessionSeen reports whether node handled an event of session id with
// at least seq.
func (s *seen) sessionSeen(node, id string, seq int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.by[node] {
		if e.SessionID == id && e.Seq >= seq {
			return true
		}
	}
	return false
}

// consumeOn runs node's event port consumer name until the test ends.
func consumeOn(t *testing.T, port charging.EventPort, node, name string, into *seen) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = port.Consume(ctx, name, func(_ context.Context, e charging.Event) error { into.add(node, e); return nil })
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// TestClusterEventsThroughJetStream runs two nodes with --nats: their
// event port is the cluster's, a session on a charger of node a is seen
// live on node b, a durable consumer on both nodes handles each event
// once, and when a stops, b relays and delivers what follows.
func TestClusterEventsThroughJetStream(t *testing.T) {
	dsn := pgtest.Schema(t)
	ns := natstest.Start(t)
	a := startNode(t, dsn, ns.URL(), "a")
	b := startNode(t, dsn, ns.URL(), "b")
	for _, n := range []interface{ Events() charging.EventPort }{a, b} {
		if _, ok := n.Events().(*cluster.Events); !ok {
			t.Fatalf("a node with --nats has event port %T; want the cluster's", n.Events())
		}
	}
	live, shared := &seen{got: map[string][]string{}, by: map[string][]charging.Event{}}, &seen{got: map[string][]string{}, by: map[string][]charging.Event{}}
	consumeOn(t, b.Events(), "b", "", live)
	consumeOn(t, a.Events(), "a", "test-shared", shared)
	consumeOn(t, b.Events(), "b", "test-shared", shared)
	// b's live consumer starts at the stream's end at some moment after
	// it starts; let it take its place before the session.
	time.Sleep(500 * time.Millisecond)

	const cp = "CP-EVENTS"
	clusterSim(t, a, cp, time.Hour)
	var res charging.CommandResult
	if code := a.PostJSON("/api/v1/chargers/"+cp+"/actions/start", map[string]any{"connector_id": 1, "id_tag": "EV-TAG"}, &res); code != http.StatusOK || res.SessionID == "" {
		t.Fatalf("start on a: HTTP %d %+v", code, res)
	}
	waitFor(t, "node b to see the session started on a", func() bool { return live.sessionSeen("b", res.SessionID, 1) })
	waitFor(t, "the session to be active", func() bool {
		var s struct{ Status charging.SessionStatus }
		return a.GetJSON("/api/v1/sessions/"+res.SessionID, &s) == http.StatusOK && s.Status == charging.SessionActive
	})
	var stop charging.CommandResult
	if code := a.PostJSON("/api/v1/sessions/"+res.SessionID+"/stop", nil, &stop); code != http.StatusOK {
		t.Fatalf("stop on a: HTTP %d %+v", code, stop)
	}
	waitFor(t, "node b to see the session end", func() bool {
		var s struct{ Status charging.SessionStatus }
		return b.GetJSON("/api/v1/sessions/"+res.SessionID, &s) == http.StatusOK && s.Status == charging.SessionCompleted
	})
	// Every event of the session, handled by one node each.
	var last int64
	waitFor(t, "the shared consumer to handle the session's events", func() bool {
		shared.mu.Lock()
		defer shared.mu.Unlock()
		last = 0
		for _, evs := range shared.by {
			for _, e := range evs {
				if e.SessionID == res.SessionID {
					last = max(last, e.Seq)
				}
			}
		}
		return last > 0 && live.sessionSeen("b", res.SessionID, last)
	})
	time.Sleep(time.Second) // room for a second delivery
	shared.mu.Lock()
	perSeq := map[int64]int{}
	for id, nodes := range shared.got {
		if len(nodes) != 1 {
			t.Errorf("event %s handled by %v; want one node", id, nodes)
		}
	}
	for _, evs := range shared.by {
		for _, e := range evs {
			if e.SessionID == res.SessionID {
				perSeq[e.Seq]++
			}
		}
	}
	shared.mu.Unlock()
	for seq := int64(1); seq <= last; seq++ {
		if perSeq[seq] != 1 {
			t.Errorf("session event %d handled %d times by the shared consumer; want once", seq, perSeq[seq])
		}
	}

	// GET /api/v1/cluster shows the shared consumers and their lag.
	var st api.ClusterStatus
	if code := b.GetJSON("/api/v1/cluster", &st); code != http.StatusOK {
		t.Fatalf("GET /api/v1/cluster on b: HTTP %d", code)
	}
	lag := map[string]api.ClusterConsumer{}
	for _, c := range st.Consumers {
		lag[c.Name] = c
	}
	if c, ok := lag["test-shared"]; !ok || c.Pending != 0 {
		t.Fatalf("cluster consumers %+v; want test-shared with nothing pending", st.Consumers)
	}
	if _, ok := lag["pricer"]; !ok {
		t.Fatalf("cluster consumers %+v; want the pricer's", st.Consumers)
	}

	// a stops: b relays what happens next and its consumers get it.
	a.Stop()
	const cp2 = "CP-EVENTS-B"
	clusterSim(t, b, cp2, time.Hour)
	if code := b.PostJSON("/api/v1/chargers/"+cp2+"/actions/start", map[string]any{"connector_id": 1, "id_tag": "EV-TAG"}, &res); code != http.StatusOK || res.SessionID == "" {
		t.Fatalf("start on b: HTTP %d %+v", code, res)
	}
	waitFor(t, "b's consumers to get b's session once a is gone", func() bool {
		return live.sessionSeen("b", res.SessionID, 1) && shared.sessionSeen("b", res.SessionID, 1)
	})
}

// TestDashboardShowsAnotherNodesCharger: node b's live dashboard stream
// shows the session and connector changes and the meter values of a
// charger on node a.
func TestDashboardShowsAnotherNodesCharger(t *testing.T) {
	dsn := pgtest.Schema(t)
	ns := natstest.Start(t)
	a := startNode(t, dsn, ns.URL(), "a")
	b := startNode(t, dsn, ns.URL(), "b")
	resp, err := b.HTTP.Get(b.URL() + "/api/v1/stream")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET b's /api/v1/stream: %v %v", resp, err)
	}
	frames := make(chan string, 1000)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		r := bufio.NewReader(resp.Body)
		var event string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				select {
				case frames <- event + " " + strings.TrimPrefix(line, "data: "):
				default:
				}
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close(); <-readDone })
	until := func(what string, ok func(string) bool) {
		t.Helper()
		timeout := time.After(30 * time.Second) // a hang guard
		for {
			select {
			case f := <-frames:
				if ok(f) {
					return
				}
			case <-timeout:
				t.Fatalf("b's dashboard never showed %s", what)
			}
		}
	}
	// b's live consumer takes its place at the stream's end after b
	// started; give it that moment.
	time.Sleep(500 * time.Millisecond)
	const cp = "CP-DASH-A"
	clusterSim(t, a, cp, time.Hour)
	var res charging.CommandResult
	if code := a.PostJSON("/api/v1/chargers/"+cp+"/actions/start", map[string]any{"connector_id": 1, "id_tag": "EV-TAG"}, &res); code != http.StatusOK || res.SessionID == "" {
		t.Fatalf("start on a: HTTP %d %+v", code, res)
	}
	until("the session started on a", func(f string) bool {
		return strings.HasPrefix(f, "session ") && strings.Contains(f, `"id":"`+res.SessionID+`"`) && strings.Contains(f, `"charger_id":"`+cp+`"`)
	})
	until("a connector of a's charger", func(f string) bool {
		return strings.HasPrefix(f, "connector ") && strings.Contains(f, `"charger_id":"`+cp+`"`)
	})
	until("a meter value of a's charger", func(f string) bool {
		return strings.HasPrefix(f, "session ") && strings.Contains(f, `"charger_id":"`+cp+`"`) && strings.Contains(f, `"telemetry":true`)
	})
}
