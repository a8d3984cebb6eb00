package ocpi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/postgres"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// countingPeer is an eMSP that counts the pushes it receives, per path,
// in arrival order. Each request takes a few milliseconds, so two
// deliverers of one queue would overlap.
type countingPeer struct {
	srv *httptest.Server
	// mu guards the fields below.
	mu    sync.Mutex
	order []string
	count map[string]int
	// down answers 503 (the push is retried).
	down bool
}

func newCountingPeer(t *testing.T) *countingPeer {
	p := &countingPeer{count: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(3 * time.Millisecond)
		p.mu.Lock()
		down := p.down
		if !down {
			p.order = append(p.order, r.URL.Path)
			p.count[r.URL.Path]++
		}
		p.mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status_code":1000,"timestamp":%q}`, time.Now().UTC().Format(time.RFC3339))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *countingPeer) setDown(down bool) { p.mu.Lock(); p.down = down; p.mu.Unlock() }

func (p *countingPeer) received() ([]string, map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := map[string]int{}
	for k, v := range p.count {
		c[k] = v
	}
	return append([]string(nil), p.order...), c
}

// node is one chargebridge node's OCPI role on the shared database.
type node struct {
	store *postgres.Store
	cpo   *CPO
}

// startNodes starts n CPOs, each on its own connection pool to one
// PostgreSQL schema, as n processes sharing the database are.
func startNodes(t *testing.T, n int, lease time.Duration) []*node {
	t.Helper()
	return startNodesOn(t, pgtest.Schema(t), n, lease, nil)
}

// startNodesOn starts n CPOs on the schema of dsn, with the command port
// cmd (none when nil).
func startNodesOn(t *testing.T, dsn string, n int, lease time.Duration, cmd Commander) []*node {
	t.Helper()
	var nodes []*node
	for range n {
		st, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		svc := charging.NewService(st, charging.SystemClock{}, slog.New(slog.DiscardHandler), charging.Config{})
		cpo, err := New(svc, cmd, nil, slog.New(slog.DiscardHandler), Config{
			Party: Party{CountryCode: "NL", PartyID: "CBR"}, PublicURL: "http://127.0.0.1:1",
			RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, OutboxLease: lease, SyncInterval: time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- cpo.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			st.Close()
		})
		select {
		case <-cpo.Ready():
		case err := <-done:
			t.Fatalf("Run: %v", err)
		}
		nodes = append(nodes, &node{store: st, cpo: cpo})
	}
	return nodes
}

// registerPeer stores a registered eMSP party (what the credentials
// handshake leaves).
func registerPeer(t *testing.T, n *node, key string) {
	t.Helper()
	now := time.Now().UTC()
	cc, party, _ := strings.Cut(key, "-")
	if err := n.cpo.peers.put(t.Context(), Peer{Key: key, CountryCode: cc, PartyID: party, Status: PeerRegistered,
		OurToken: "ours", TheirToken: "theirs", Created: now, Updated: now}); err != nil {
		t.Fatal(err)
	}
}

func waitDrained(t *testing.T, n *node, peer string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		left, err := n.cpo.Pending(t.Context(), peer)
		if err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pushes to %s still wait after %v", left, peer, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOutboxDeliversOnceAcrossNodes: two nodes queue pushes for one eMSP
// into one database; each push reaches the eMSP exactly once, in the
// order it was queued, whichever node delivers it.
func TestOutboxDeliversOnceAcrossNodes(t *testing.T) {
	nodes := startNodes(t, 2, 2*time.Second)
	peer := newCountingPeer(t)
	registerPeer(t, nodes[0], "DE-EMS")
	const pushes = 60
	var want []string
	for i := range pushes {
		n := nodes[i%2]
		path := "/push/" + strconv.Itoa(i)
		want = append(want, path)
		if err := n.cpo.out.add(t.Context(), push{Peer: "DE-EMS", Object: "test " + path, URL: peer.srv.URL + path, Method: http.MethodPut, Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if i == pushes/2 {
			// Both nodes' workers are busy with the queue now; the eMSP
			// goes down for a moment, so the holder backs off holding it.
			peer.setDown(true)
			time.Sleep(30 * time.Millisecond)
			peer.setDown(false)
		}
	}
	waitDrained(t, nodes[0], "DE-EMS", 30*time.Second)
	order, count := peer.received()
	for _, p := range want {
		if count[p] != 1 {
			t.Errorf("%s received %d times; want once", p, count[p])
		}
	}
	if len(order) == len(want) {
		for i := range order {
			if order[i] != want[i] {
				t.Errorf("push %d received as %s; want %s (queue order)", i, order[i], want[i])
				break
			}
		}
	}
}

// TestOutboxTakesOverFromDeadNode: a node that died holding an eMSP's
// queue (its lease) holds it up only until the lease expires; then
// another node delivers.
func TestOutboxTakesOverFromDeadNode(t *testing.T) {
	const lease = time.Second
	nodes := startNodes(t, 1, lease)
	n := nodes[0]
	peer := newCountingPeer(t)
	registerPeer(t, n, "DE-EMS")
	// The dead node's lease, renewed last just now.
	if ok, err := n.store.AcquireLease(t.Context(), leaseName("DE-EMS"), "dead-node", lease); err != nil || !ok {
		t.Fatalf("AcquireLease: %v, %v", ok, err)
	}
	if err := n.cpo.out.add(t.Context(), push{Peer: "DE-EMS", Object: "test", URL: peer.srv.URL + "/push/1", Method: http.MethodPut, Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(lease / 2)
	if _, count := peer.received(); count["/push/1"] != 0 {
		t.Fatal("a push was delivered while another node held the queue")
	}
	waitDrained(t, n, "DE-EMS", 10*lease)
	if _, count := peer.received(); count["/push/1"] != 1 {
		t.Errorf("push received %d times; want once", count["/push/1"])
	}
}

// unusedCommands is a command port the test never reaches: its commands
// are left behind by a node that is gone.
type unusedCommands struct{ charging.Commands }

// TestStaleCommandsAnsweredOnce: a node that starts answers TIMEOUT for a
// command a dead node left waiting long ago, and leaves alone one another
// node still waits for.
func TestStaleCommandsAnsweredOnce(t *testing.T) {
	dsn := pgtest.Schema(t)
	peer := newCountingPeer(t)
	a := startNodesOn(t, dsn, 1, time.Second, unusedCommands{})[0]
	registerPeer(t, a, "DE-EMS")
	now := time.Now().UTC()
	for id, at := range map[string]time.Time{"fresh": now, "stale": now.Add(-time.Hour)} {
		b, _ := json.Marshal(pendingCommand{Peer: "DE-EMS", Command: "START_SESSION", ResponseURL: peer.srv.URL + "/result/" + id, At: at})
		if err := a.cpo.docs.PutDoc(t.Context(), charging.Doc{Kind: docCommand, ID: id, Owner: "DE-EMS", Body: b, Updated: at}); err != nil {
			t.Fatal(err)
		}
	}
	b := startNodesOn(t, dsn, 1, time.Second, unusedCommands{})[0]
	waitDrained(t, b, "DE-EMS", 10*time.Second)
	_, count := peer.received()
	if count["/result/stale"] != 1 || count["/result/fresh"] != 0 {
		t.Errorf("results received: got %v; want one TIMEOUT for the stale command only", count)
	}
	if _, err := b.cpo.docs.GetDoc(t.Context(), docCommand, "fresh"); err != nil {
		t.Errorf("the command another node waits for: %v; want it still pending", err)
	}
}
