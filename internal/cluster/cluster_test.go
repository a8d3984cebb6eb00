package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
)

// join starts a node on the NATS server at url, holding the chargers in
// local (its own sockets), until the test ends.
func join(t testing.TB, url, id string, ttl time.Duration, local *localSet, cmds charging.Commands) *Node {
	t.Helper()
	n, err := Join(context.Background(), Config{URL: url, NodeID: id, TTL: ttl, Refresh: ttl / 6, CallTimeout: 2 * time.Second, Local: local.has, Evict: local.evict})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(cmds, echo{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// twoNodes joins nodes a and b (heartbeat TTL ttl) to the cluster at url,
// with the sets of chargers each holds.
func twoNodes(t testing.TB, url string, ttl time.Duration) (a, b *Node, la, lb *localSet) {
	t.Helper()
	la, lb = &localSet{}, &localSet{}
	return join(t, url, "a", ttl, la, nil), join(t, url, "b", ttl, lb, nil), la, lb
}

// localSet is the chargers whose sockets a node holds, and those it was
// told to close.
type localSet struct {
	mu      sync.Mutex
	ids     map[string]bool
	evicted []string
}

func (l *localSet) evict(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evicted = append(l.evicted, id)
}

func (l *localSet) evictions() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.evicted...)
}

func (l *localSet) set(id string, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids == nil {
		l.ids = map[string]bool{}
	}
	l.ids[id] = on
}

func (l *localSet) has(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ids[id]
}

func holder(t *testing.T, n *Node, charger string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, ok, err := n.Holder(ctx, charger)
	if err != nil {
		t.Fatalf("holder of %s: %v", charger, err)
	}
	if !ok {
		return ""
	}
	return e.Node
}

// within polls cond for up to 5 s.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPresenceFollowsTheCharger(t *testing.T) {
	ns := natstest.Start(t)
	a, b, la, lb := twoNodes(t, ns.URL(), time.Minute)
	const cp = "CP.1:x" // dots and colons are escaped in keys

	la.set(cp, true)
	a.Hold(cp)
	if got := holder(t, b, cp); got != "a" {
		t.Fatalf("after connecting to a: holder %q; want a", got)
	}
	if !b.Connected(cp) {
		t.Errorf("b.Connected(%s) = false; want true (a holds it)", cp)
	}
	// It reconnects to b before a noticed the old socket closed: b's entry
	// wins at once, and a's late release leaves it.
	lb.set(cp, true)
	b.Hold(cp)
	if got := holder(t, a, cp); got != "b" {
		t.Fatalf("after reconnecting to b: holder %q; want b", got)
	}
	// a is told to close its (half-open) socket of it.
	within(t, "a to close its old socket", func() bool { return cmp.Equal(la.evictions(), []string{cp}) })
	if a.Held() != 0 {
		t.Errorf("a holds %d chargers after the eviction; want 0", a.Held())
	}
	la.set(cp, false)
	a.Release(cp)
	if got := holder(t, a, cp); got != "b" {
		t.Fatalf("after a released its old socket: holder %q; want b", got)
	}
	// A refresh on a does not take it back either.
	a.refresh()
	if got := holder(t, a, cp); got != "b" {
		t.Fatalf("after a's refresh: holder %q; want b", got)
	}
	if got := lb.evictions(); got != nil {
		t.Errorf("b was told to close %v; want nothing", got)
	}
	// A release while the node holds a newer socket of the charger keeps it.
	b.Release(cp)
	if got := holder(t, a, cp); got != "b" {
		t.Fatalf("after b released a replaced socket: holder %q; want b", got)
	}
	lb.set(cp, false)
	b.Release(cp)
	if got := holder(t, a, cp); got != "" {
		t.Fatalf("after b released it: holder %q; want none", got)
	}
	if b.Connected(cp) {
		t.Errorf("b.Connected(%s) = true after it left; want false", cp)
	}
}

func TestNodeIDIsOneNodes(t *testing.T) {
	ns := natstest.Start(t)
	var la localSet
	a := join(t, ns.URL(), "a", time.Minute, &la, nil)
	_, err := Join(context.Background(), Config{URL: ns.URL(), NodeID: "a", TTL: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "node id a is in use") {
		t.Fatalf("a second node a: %v; want refused", err)
	}
	a.Close() // leaving frees the id at once
	b, err := Join(context.Background(), Config{URL: ns.URL(), NodeID: "a", TTL: time.Minute})
	if err != nil {
		t.Fatalf("node a after the first left: %v", err)
	}
	b.Close()
}

func TestPresenceExpiresWithItsNode(t *testing.T) {
	ns := natstest.Start(t)
	const ttl = 1200 * time.Millisecond // refreshed every 200 ms: room for a loaded machine
	a, b, la, lb := twoNodes(t, ns.URL(), ttl)
	la.set("CP1", true)
	a.Hold("CP1")
	lb.set("CP2", true)
	b.Hold("CP2")

	// Refreshed, an entry outlives its TTL.
	time.Sleep(2 * ttl)
	if got := holder(t, b, "CP1"); got != "a" {
		t.Fatalf("after 2 TTLs of a live node: holder %q; want a", got)
	}
	nodes, err := b.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(nodes); !cmp.Equal(got, []string{"a", "b"}) {
		t.Fatalf("nodes %v; want [a b]", got)
	}
	if nodes[0].Chargers != 1 {
		t.Errorf("node a holds %d chargers; want 1", nodes[0].Chargers)
	}

	// a dies: nothing is deleted, its entries expire.
	a.abandon()
	within(t, "a's charger to expire", func() bool { return holder(t, b, "CP1") == "" })
	within(t, "a to leave the nodes", func() bool {
		nodes, err := b.Nodes(context.Background())
		return err == nil && cmp.Equal(ids(nodes), []string{"b"})
	})
	if got := holder(t, b, "CP2"); got != "b" {
		t.Errorf("b's own charger: holder %q; want b", got)
	}
}

// TestGoneNodeIsNotBelievedAlive: once Nodes no longer lists a node, its
// chargers are not held, though a lookup just before believed its
// heartbeat for a while (the site leader lists the nodes, sees one gone,
// and then counts offline the chargers no live node holds).
func TestGoneNodeIsNotBelievedAlive(t *testing.T) {
	ns := natstest.Start(t)
	const ttl = 1200 * time.Millisecond
	a, b, la, _ := twoNodes(t, ns.URL(), ttl)
	la.set("CP1", true)
	a.Hold("CP1")
	within(t, "a to hold CP1", func() bool { return holder(t, b, "CP1") == "a" })
	a.abandon()
	seenAlive := 0
	within(t, "a to leave the nodes", func() bool {
		// The lookup refreshes b's belief in a's heartbeat while a's
		// key lives.
		if holder(t, b, "CP1") == "a" {
			seenAlive++
		}
		nodes, err := b.Nodes(context.Background())
		if err != nil || slices.ContainsFunc(nodes, func(n NodeInfo) bool { return n.ID == "a" }) {
			return false
		}
		if got := holder(t, b, "CP1"); got != "" {
			t.Fatalf("a is not among the nodes, yet CP1's holder is %q", got)
		}
		return true
	})
	if seenAlive == 0 {
		t.Fatal("no lookup found a alive after it was abandoned: the test proved nothing")
	}
}

func ids(nodes []NodeInfo) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.ID)
	}
	return out
}

// answers is a node's local command router in these tests: each charger
// id answers as the table says (the real router is tested end to end in
// internal/server).
type answers struct {
	mu       sync.Mutex
	deadline bool // whether the last command had a deadline
	by       map[string]func(ctx context.Context) (charging.CommandResult, error)
}

func (a *answers) answer(ctx context.Context, id string) (charging.CommandResult, error) {
	a.mu.Lock()
	_, a.deadline = ctx.Deadline()
	f, ok := a.by[id]
	a.mu.Unlock()
	if !ok {
		return charging.CommandResult{}, fmt.Errorf("%w: %s", charging.ErrNotConnected, id)
	}
	return f(ctx)
}

func (a *answers) StartCharging(ctx context.Context, c charging.StartCharging) (charging.CommandResult, error) {
	return a.answer(ctx, c.ChargerID)
}
func (a *answers) StopCharging(ctx context.Context, c charging.StopCharging) (charging.CommandResult, error) {
	return a.answer(ctx, "session:"+c.SessionID)
}
func (a *answers) Reserve(ctx context.Context, c charging.Reserve) (charging.CommandResult, error) {
	return a.answer(ctx, c.ChargerID)
}
func (a *answers) CancelReservation(ctx context.Context, c charging.CancelReservation) (charging.CommandResult, error) {
	return a.answer(ctx, c.ChargerID)
}
func (a *answers) Unlock(ctx context.Context, c charging.Unlock) (charging.CommandResult, error) {
	return a.answer(ctx, c.ChargerID)
}
func (a *answers) Reset(ctx context.Context, c charging.Reset) (charging.CommandResult, error) {
	return a.answer(ctx, c.ChargerID)
}
func (a *answers) ChangeAvailability(ctx context.Context, c charging.ChangeAvailability) (charging.CommandResult, error) {
	return a.answer(ctx, c.ChargerID)
}
func (a *answers) SetChargingLimit(ctx context.Context, c charging.ChargingLimit) (charging.CommandResult, error) {
	return a.answer(ctx, c.ChargerID)
}

// sessions finds session "S-<charger>" on <charger>.
type sessions struct{}

func (sessions) GetSession(_ context.Context, id string) (charging.Session, error) {
	if len(id) > 2 && id[:2] == "S-" {
		return charging.Session{ID: id, ChargerID: id[2:]}, nil
	}
	return charging.Session{}, fmt.Errorf("session %s: %w", id, charging.ErrNotFound)
}

func TestForwardedCommandsKeepTheirAnswerAndErrors(t *testing.T) {
	ns := natstest.Start(t)
	var la, lb localSet
	onA := &answers{by: map[string]func(context.Context) (charging.CommandResult, error){}}
	a := join(t, ns.URL(), "a", time.Minute, &la, onA)
	b := join(t, ns.URL(), "b", time.Minute, &lb, nil)
	onB := &answers{by: map[string]func(context.Context) (charging.CommandResult, error){}}
	viaB := NewRouter(b, onB, sessions{})

	rejected := charging.CommandResult{Status: charging.CommandOccupied, Answer: "Occupied"}
	cases := map[string]func(context.Context) (charging.CommandResult, error){
		"accepted": func(context.Context) (charging.CommandResult, error) {
			return charging.CommandResult{Status: charging.CommandAccepted, Answer: "Accepted", SessionID: "S1"}, nil
		},
		"rejected": func(context.Context) (charging.CommandResult, error) { return rejected.Outcome() },
		"unsupported": func(context.Context) (charging.CommandResult, error) {
			return charging.CommandResult{Status: charging.CommandUnsupported, Answer: "NotSupported"}.Outcome()
		},
		"charger-error": func(context.Context) (charging.CommandResult, error) {
			return charging.CommandResult{}, fmt.Errorf("unlock: %w", &charging.ChargerError{Code: "NotImplemented", Description: "no"})
		},
		"timeout": func(context.Context) (charging.CommandResult, error) {
			return charging.CommandResult{}, fmt.Errorf("reset: %w", charging.ErrTimeout)
		},
		"not-connected": func(context.Context) (charging.CommandResult, error) {
			return charging.CommandResult{}, fmt.Errorf("%w: gone", charging.ErrNotConnected)
		},
		"invalid-answer": func(context.Context) (charging.CommandResult, error) {
			return charging.CommandResult{}, charging.ErrInvalidAnswer
		},
		"invalid-input": func(context.Context) (charging.CommandResult, error) {
			return charging.CommandResult{}, charging.ErrInvalidInput
		},
		"not-found": func(context.Context) (charging.CommandResult, error) {
			return charging.CommandResult{}, charging.ErrNotFound
		},
		"conflict": func(context.Context) (charging.CommandResult, error) {
			return charging.CommandResult{}, charging.ErrConflict
		},
		"plain": func(context.Context) (charging.CommandResult, error) {
			return charging.CommandResult{}, errors.New("store is down")
		},
	}
	for name, f := range cases {
		onA.by[name] = f
		onA.by["session:S-"+name] = f
		la.set(name, true)
		a.Hold(name)
	}
	ctx := context.Background()
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			wantRes, wantErr := f(ctx)
			for op, send := range map[string]func() (charging.CommandResult, error){
				"unlock": func() (charging.CommandResult, error) {
					return viaB.Unlock(ctx, charging.Unlock{ChargerID: name, ConnectorID: 1})
				},
				"stop": func() (charging.CommandResult, error) {
					return viaB.StopCharging(ctx, charging.StopCharging{SessionID: "S-" + name})
				},
			} {
				res, err := send()
				if !cmp.Equal(res, wantRes) {
					t.Errorf("%s: result %+v; want %+v", op, res, wantRes)
				}
				if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
					t.Fatalf("%s: error %v; want %v", op, err, wantErr)
				}
				for _, target := range charging.CommandErrors {
					if got, want := errors.Is(err, target), errors.Is(wantErr, target); got != want {
						t.Errorf("%s: errors.Is(%v, %v) = %v; want %v", op, err, target, got, want)
					}
				}
				var rej, wantRej *charging.Rejection
				if errors.As(wantErr, &wantRej) && (!errors.As(err, &rej) || rej.Result != wantRej.Result) {
					t.Errorf("%s: rejection %+v; want %+v", op, rej, wantRej)
				}
				var ce, wantCE *charging.ChargerError
				if errors.As(wantErr, &wantCE) && (!errors.As(err, &ce) || *ce != *wantCE) {
					t.Errorf("%s: charger error %+v; want %+v", op, ce, wantCE)
				}
			}
		})
	}

	t.Run("caller-deadline-travels", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if _, err := viaB.Reset(dctx, charging.Reset{ChargerID: "accepted"}); err != nil {
			t.Fatal(err)
		}
		onA.mu.Lock()
		defer onA.mu.Unlock()
		if !onA.deadline {
			t.Error("the holding node ran the command without the caller's deadline")
		}
	})
	t.Run("unknown-charger-is-answered-here", func(t *testing.T) {
		_, err := viaB.Unlock(ctx, charging.Unlock{ChargerID: "nobody", ConnectorID: 1})
		if want := "charger is not connected: nobody"; err == nil || err.Error() != want {
			t.Errorf("error %v; want %s", err, want)
		}
	})
	t.Run("held-by-a-dead-node", func(t *testing.T) {
		a.abandon() // its entries stay until their TTL
		// Once the NATS server has seen it go (a request sent sooner
		// would wait for the dead node until its timeout).
		within(t, "a's command subject to have no responders", func() bool {
			_, err := b.nc.Request(b.names.cmd+"a", []byte("{}"), 200*time.Millisecond)
			return errors.Is(err, nats.ErrNoResponders)
		})
		_, err := viaB.Unlock(ctx, charging.Unlock{ChargerID: "accepted", ConnectorID: 1})
		if !errors.Is(err, charging.ErrNotConnected) {
			t.Errorf("error %v; want ErrNotConnected", err)
		}
	})
}

// echo is a node's raw sender in these tests: it answers the payload,
// or refuses an action named Fail with a CALLERROR and an answer.
type echo struct{}

func (echo) Send(_ context.Context, chargerID, action string, payload json.RawMessage, by string) (json.RawMessage, error) {
	if action == "Fail" {
		return json.RawMessage(`{"why":"no"}`), &charging.ChargerError{Code: "NotSupported", Description: chargerID}
	}
	return json.RawMessage(fmt.Sprintf(`{"charger":%q,"action":%q,"by":%q,"payload":%s}`, chargerID, action, by, payload)), nil
}

func TestForwardedRawMessages(t *testing.T) {
	ns := natstest.Start(t)
	a, b, la, _ := twoNodes(t, ns.URL(), time.Minute)
	la.set("CP1", true)
	a.Hold("CP1")
	viaB := NewRawRouter(b, refuseRaw{})
	ctx := context.Background()
	res, err := viaB.Send(ctx, "CP1", "GetConfiguration", json.RawMessage(`{"key":["X"]}`), "op")
	if want := `{"charger":"CP1","action":"GetConfiguration","by":"op","payload":{"key":["X"]}}`; err != nil || string(res) != want {
		t.Fatalf("raw through b = %s, %v; want %s", res, err, want)
	}
	res, err = viaB.Send(ctx, "CP1", "Fail", json.RawMessage(`{}`), "op")
	var ce *charging.ChargerError
	if !errors.As(err, &ce) || ce.Code != "NotSupported" || !errors.Is(err, charging.ErrNotSupported) || string(res) != `{"why":"no"}` {
		t.Fatalf("failing raw through b = %s, %v; want the CALLERROR and the answer", res, err)
	}
	if _, err := viaB.Send(ctx, "CP2", "Reset", nil, "op"); !errors.Is(err, errLocalRaw) {
		t.Fatalf("raw to a charger no node holds = %v; want the local sender's answer", err)
	}
}

var errLocalRaw = errors.New("local raw sender")

type refuseRaw struct{}

func (refuseRaw) Send(context.Context, string, string, json.RawMessage, string) (json.RawMessage, error) {
	return nil, errLocalRaw
}

// TestWithoutNATSNothingWaits: while NATS is away, a charger's connection
// and disconnection wait for nothing, and a command for a charger held
// elsewhere fails at once as not connected.
func TestWithoutNATSNothingWaits(t *testing.T) {
	ns := natstest.Start(t)
	var lb localSet
	b := join(t, ns.URL(), "b", time.Minute, &lb, nil)
	viaB := NewRouter(b, &answers{}, sessions{})
	ns.Stop()
	within(t, "b to see NATS go", func() bool { return b.Ready() != nil })
	start := time.Now()
	lb.set("CP1", true)
	b.Hold("CP1")
	lb.set("CP1", false)
	b.Release("CP1")
	_, err := viaB.Unlock(context.Background(), charging.Unlock{ChargerID: "CP2", ConnectorID: 1})
	if !errors.Is(err, charging.ErrNotConnected) {
		t.Errorf("unlock without NATS = %v; want ErrNotConnected", err)
	}
	if b.Connected("CP2") {
		t.Error("Connected(CP2) without NATS = true; want false")
	}
	// Each would wait 5 s for NATS (opTimeout) if it tried.
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("without NATS, connect, disconnect and a command took %v; want no wait for NATS", d)
	}
}

func TestEveryCommandErrorCrossesTheWire(t *testing.T) {
	for _, e := range charging.CommandErrors {
		got := encodeError(fmt.Errorf("x: %w", e)).decode()
		if !errors.Is(got, e) {
			t.Errorf("%v does not cross the wire: decoded %v", e, got)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                             "nats://127.0.0.1:4222",
		"nats://cb:s3cret@n1:4222,nats://cb:s3cret@n2:4222": "nats://cb:xxxxx@n1:4222,nats://cb:xxxxx@n2:4222",
		"tls://T0KEN@n1:4222":                               "tls://xxxxx@n1:4222",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestKeyIsOneToOne(t *testing.T) {
	seen := map[string]string{}
	for _, id := range []string{"CP1", "CP.1", "CP:1", "CP=2E1", "a.b.c", "a:b", "-_"} {
		if charging.ValidateChargerID(id) != nil {
			continue
		}
		k := key(id)
		if other, dup := seen[k]; dup {
			t.Errorf("key(%q) = key(%q) = %q", id, other, k)
		}
		seen[k] = id
	}
}
