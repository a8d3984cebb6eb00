// Package cluster lets several chargebridge nodes that share one PostgreSQL
// database serve one fleet. Each node records in a NATS JetStream
// key-value bucket which chargers' sockets it holds (presence, believed
// while the node's heartbeat in another bucket lives), and the
// core's command port on any node forwards a command for a charger held by
// another node to that node by NATS request/reply; the holding node runs it
// on its own command router and answers.
//
// The coordination is NATS's, not ours: the design keeps consensus and
// queues in an existing engine, so presence lives in JetStream key-value
// buckets (github.com/nats-io/nats.go and its jetstream package, the
// official client) whose TTL expires a dead node's heartbeat, and commands
// travel by plain request/reply. Tests embed the NATS server itself
// (github.com/nats-io/nats-server/v2, see natstest) so they need no outside
// process.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// Defaults of Config.
const (
	DefaultTTL = 15 * time.Second
	// opTimeout bounds one key-value operation.
	opTimeout = 5 * time.Second
)

// DefaultName is the cluster's name when Config.Name is empty; the
// buckets below are the default cluster's.
const (
	DefaultName    = "cb"
	PresenceBucket = DefaultName + "_presence"
	NodesBucket    = DefaultName + "_nodes"
)

// names are the NATS names of one cluster. Each starts with the cluster's
// name, so clusters that share a NATS server (a staging and a production
// one) never see each other's presence, commands or events.
type names struct {
	presence, nodes, cmd, evict, who, stream, ev, live, note string
}

func namesOf(cluster string) names {
	if cluster == "" {
		cluster = DefaultName
	}
	return names{
		presence: cluster + "_presence", nodes: cluster + "_nodes",
		cmd: cluster + ".cmd.", evict: cluster + ".evict.", who: cluster + ".who",
		stream: strings.ToUpper(cluster) + "_EVENTS", ev: cluster + ".ev.",
		live: cluster + ".live.", note: cluster + ".note.",
	}
}

// ValidateName checks a cluster name: 1 to 32 letters, digits, - and _.
func ValidateName(name string) error { return validToken("cluster name", name, 32) }

// Config is a node's part in a cluster.
type Config struct {
	// URL is the NATS server's URL (several, comma-separated, for a NATS
	// cluster).
	URL string
	// NodeID names this node; DefaultNodeID when empty.
	NodeID string
	// Name is the cluster's (DefaultName when empty): its NATS buckets,
	// stream and subjects start with it, so that several clusters may
	// share one NATS server.
	Name string
	// TTL is how long a node's heartbeat lives without a refresh
	// (DefaultTTL when zero): its chargers' records are believed as long;
	// Refresh is how often the node writes it (TTL/3 when zero).
	TTL     time.Duration
	Refresh time.Duration
	// CallTimeout is the local commands' call timeout: a forwarded command
	// without a deadline waits for the holding node this long, twice, plus
	// a margin for the store.
	CallTimeout time.Duration
	// Local reports whether this node holds a charger's socket.
	Local func(chargerID string) bool
	// Evict, when set, closes this node's socket of a charger that has
	// connected to another node since (the old socket is half-open: the
	// charger's network changed and the load balancer sent it elsewhere).
	Evict func(chargerID string)
	Log   *slog.Logger
	// Observe, when set, is told how long each part of a command this
	// node forwarded took (the Phase constants name them), for the
	// metrics.
	Observe func(phase string, d time.Duration)
}

// The parts of a forwarded command's time, as the calling node sees
// them. ToHolder and Back are measured across two nodes' clocks (one
// machine's in a benchmark); their sum is exact.
const (
	// PhaseLookup is the presence lookup: which node holds the charger.
	PhaseLookup = "lookup"
	// PhaseRequest is the NATS request/reply, from sending to the answer.
	PhaseRequest = "request"
	// PhaseToHolder is from sending to the holding node's receipt.
	PhaseToHolder = "to_holder"
	// PhaseQueued is the wait on the holding node for a turn.
	PhaseQueued = "queued"
	// PhaseRun is the command on the holding node's own router.
	PhaseRun = "run"
	// PhaseBack is from the holding node's answer to the caller's receipt.
	PhaseBack = "back"
)

// Phases lists the phases in the order a command goes through them.
var Phases = []string{PhaseLookup, PhaseRequest, PhaseToHolder, PhaseQueued, PhaseRun, PhaseBack}

// DefaultNodeID is hostname-pid, in the characters a node id may have.
func DefaultNodeID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "node"
	}
	return sanitize(fmt.Sprintf("%s-%d", h, os.Getpid()))
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !nodeIDChar(c) {
			b[i] = '-'
		}
	}
	return string(b)
}

func nodeIDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// RedactURL hides the passwords and tokens of NATS URLs (comma-separated)
// for logs and messages.
func RedactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx") // a token
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// ValidateNodeID says what is wrong with a node id: it names a NATS
// subject token and a key, so letters, digits, - and _ only.
func ValidateNodeID(id string) error { return validToken("node id", id, 64) }

// validToken checks a name that becomes part of NATS subjects and bucket
// keys: 1 to max letters, digits, - and _.
func validToken(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%s %q must be 1 to %d characters", what, s, max)
	}
	for i := 0; i < len(s); i++ {
		if !nodeIDChar(s[i]) {
			return fmt.Errorf("%s %q has character %q; use letters, digits, - and _", what, s, s[i])
		}
	}
	return nil
}

// Node is this process's membership in a cluster: its chargers' presence
// records, its heartbeat in the nodes bucket, and the subscription that answers the
// commands other nodes forward to it.
type Node struct {
	cfg      Config
	names    names
	log      *slog.Logger
	nc       *nats.Conn
	js       jetstream.JetStream
	presence jetstream.KeyValue
	nodes    jetstream.KeyValue
	started  time.Time
	// run names this run of the node in its heartbeat and its records.
	run string

	// stripes order the presence writes of one charger (a connect, a
	// disconnect and a retry of the same key never interleave).
	stripes [64]sync.Mutex
	// mu guards held: the chargers this node holds, with its record's
	// revision (0: not written yet) and the time the charger connected;
	// pending: those whose record is to be written again; releasing: the
	// records of closed sockets still to be deleted.
	mu        sync.Mutex
	held      map[string]holding
	pending   map[string]struct{}
	releasing map[string]holding
	// replica is the presence bucket's copy (replica.go).
	replica replica
	// seenMu guards seen: the other nodes' heartbeats lately seen.
	seenMu sync.Mutex
	seen   map[string]seenNode

	sub    *nats.Subscription
	evicts *nats.Subscription
	whos   *nats.Subscription
	// whoAsked counts the questions whoHolds asked (tests).
	whoAsked atomic.Int64
	// serveMu orders serveWG.Add against Close's Wait (leaving): a
	// subscription's callback may still run after Unsubscribe.
	serveMu sync.Mutex
	leaving bool
	serveWG sync.WaitGroup
	sem     chan struct{}
	// stop ends the refresh loop and the forwarded commands; loopWG waits
	// for the loop.
	stopCtx context.Context
	stop    context.CancelFunc
	loopWG  sync.WaitGroup
	once    sync.Once
	// beatMu guards nodeRev, the revision of the node's heartbeat (0: not
	// written yet), and shown, the charger count it tells.
	beatMu  sync.Mutex
	nodeRev uint64
	shown   int
	// shownPending is whether that heartbeat tells of records not
	// written yet (NodeInfo.Pending).
	shownPending bool
	// lapsed says the heartbeat had expired when last written: every
	// record is to be checked (repair); repairs asks repairLoop for a
	// repair.
	lapsed  atomic.Bool
	repairs chan struct{}
	// holds are the chargers HoldSoon took whose records the hold
	// writers (writeHolds) are to write.
	holds chan string
}

type holding struct {
	rev uint64
	at  time.Time
}

// Entry is a presence record: which node (which run of it) holds a
// charger, since when.
type Entry struct {
	Charger     string    `json:"charger"`
	Node        string    `json:"node"`
	Run         string    `json:"run"`
	ConnectedAt time.Time `json:"connected_at"`
}

// NodeInfo is a node's heartbeat in the nodes bucket, rewritten at every
// refresh and when its charger count changes.
type NodeInfo struct {
	ID       string `json:"id"`
	Run      string `json:"run"`
	Chargers int    `json:"chargers"`
	// Pending is how many of those chargers' presence records were not
	// written yet (HoldSoon's writers are behind, or NATS failed): while
	// any node has some, a charger without a record may still be held,
	// and a command for it asks the nodes (whoHolds).
	Pending   int       `json:"pending,omitempty"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
}

// Join connects to NATS and creates (or adopts) the presence and nodes
// buckets. Start begins serving and refreshing; Close leaves.
func Join(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.NodeID == "" {
		cfg.NodeID = DefaultNodeID()
	}
	if err := ValidateNodeID(cfg.NodeID); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if err := ValidateName(cfg.Name); err != nil {
		return nil, err
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = cfg.TTL / 3
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Local == nil {
		cfg.Local = func(string) bool { return false }
	}
	log := cfg.Log.With("node", cfg.NodeID)
	nc, err := nats.Connect(cfg.URL,
		nats.Name("chargebridge "+cfg.NodeID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("cluster: lost NATS; commands to other nodes' chargers fail until it is back", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("cluster: NATS is back", "url", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w (is nats-server running, with JetStream: nats-server -js?)", RedactURL(cfg.URL), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("NATS JetStream: %w", err)
	}
	bucket := func(name, desc string, ttl time.Duration) (jetstream.KeyValue, error) {
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		kv, err := js.CreateOrUpdateKeyValue(bctx, jetstream.KeyValueConfig{
			Bucket: name, Description: desc, History: 1, TTL: ttl, Storage: jetstream.FileStorage, // kept across a NATS restart
		})
		if err == nil {
			return kv, nil
		}
		// A bucket made by another version (say, another storage) serves
		// as long as its TTL is ours.
		if old, oerr := js.KeyValue(bctx, name); oerr == nil {
			if st, serr := old.Status(bctx); serr == nil && st.TTL() == ttl {
				log.Warn("cluster: key-value bucket kept with its own configuration", "bucket", name, "err", err)
				return old, nil
			}
			return nil, fmt.Errorf("NATS key-value bucket %s exists with another configuration (%w): delete it (nats kv rm %s) while no node runs", name, err, name)
		}
		return nil, fmt.Errorf("NATS key-value bucket %s: %w (does the NATS server run JetStream? start it with -js)", name, err)
	}
	n := &Node{cfg: cfg, names: namesOf(cfg.Name), log: log, nc: nc, started: time.Now().UTC(), run: newRun(), js: js, sem: make(chan struct{}, 256),
		held: map[string]holding{}, pending: map[string]struct{}{}, releasing: map[string]holding{}, seen: map[string]seenNode{}}
	n.replica.reset()
	n.repairs = make(chan struct{}, 1)
	n.holds = make(chan string, holdQueue)
	// A charger's record lives until its socket closes; its node's
	// heartbeat says whether it is believed (see presence.go).
	if n.presence, err = bucket(n.names.presence, "chargebridge: which node holds each charger's socket", 0); err != nil {
		nc.Close()
		return nil, err
	}
	if n.nodes, err = bucket(n.names.nodes, "chargebridge: the nodes of the cluster (heartbeats)", cfg.TTL); err != nil {
		nc.Close()
		return nil, err
	}
	// Two processes with one id would share its command subject: a
	// command could reach the one without the charger.
	if e, err := n.nodes.Get(ctx, cfg.NodeID); err == nil {
		var other NodeInfo
		_ = json.Unmarshal(e.Value(), &other)
		nc.Close()
		return nil, fmt.Errorf("node id %s is in use by a running node (last seen %s): give each node its own --node-id, or wait %s for a node that died to expire", cfg.NodeID, other.LastSeen.Format(time.RFC3339), cfg.TTL)
	}
	n.stopCtx, n.stop = context.WithCancel(context.Background())
	return n, nil
}

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// RunID is this process's run of the node: a node restarted with the same
// id has another. NodeInfo.Run names it in Nodes.
func (n *Node) RunID() string { return n.run }

// Ready reports whether the node reaches NATS.
func (n *Node) Ready() error {
	if st := n.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("NATS is %s", strings.ToLower(st.String()))
	}
	return nil
}

// Start answers the commands other nodes forward here with local (this
// node's own command router, never a Router: a forwarded command is not
// forwarded again) and raw messages with raw (nil: refused), and starts
// writing the node's heartbeat.
func (n *Node) Start(local charging.Commands, raw RawSender) error {
	sub, err := n.nc.Subscribe(n.names.cmd+n.cfg.NodeID, func(m *nats.Msg) {
		received := time.Now()
		select {
		case n.sem <- struct{}{}:
		case <-n.stopCtx.Done():
			n.refuse(m)
			return
		}
		n.serveMu.Lock()
		if n.leaving {
			n.serveMu.Unlock()
			<-n.sem
			n.refuse(m)
			return
		}
		n.serveWG.Add(1)
		n.serveMu.Unlock()
		go func() {
			defer func() { <-n.sem; n.serveWG.Done() }()
			n.serve(local, raw, m, received)
		}()
	})
	if err != nil {
		return fmt.Errorf("subscribe to forwarded commands: %w", err)
	}
	n.sub = sub
	if n.evicts, err = n.nc.Subscribe(n.names.evict+n.cfg.NodeID, n.onEvict); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("subscribe to evictions: %w", err)
	}
	if n.whos, err = n.nc.Subscribe(n.names.who, n.onWho); err != nil {
		_ = sub.Unsubscribe()
		_ = n.evicts.Unsubscribe()
		return fmt.Errorf("subscribe to holder questions: %w", err)
	}
	n.beat()
	n.loopWG.Add(3 + holdWriters)
	go n.loop()
	go n.repairLoop()
	go n.watchPresence()
	for range holdWriters {
		go n.writeHolds()
	}
	return nil
}

// loop writes the node's heartbeat every Refresh, and within a second of
// a change in the count of chargers it holds, until the node stops; after
// each it asks repairLoop to write what failed. The heartbeat is one
// key-value write and is never held up by the records: a node whose
// records took longer than the TTL to repair (thousands of them, NATS
// slow under load) would otherwise miss its heartbeat, vanish from the
// cluster view, and see its chargers deleted as stale by other nodes.
func (n *Node) loop() {
	defer n.loopWG.Done()
	t := time.NewTicker(n.cfg.Refresh)
	defer t.Stop()
	count := time.NewTicker(min(n.cfg.Refresh, time.Second))
	defer count.Stop()
	for {
		select {
		case <-n.stopCtx.Done():
			return
		case <-t.C:
		case <-count.C:
			n.beatMu.Lock()
			shown, shownPending := n.shown, n.shownPending
			n.beatMu.Unlock()
			if n.Held() == shown && (n.pendingRecords() > 0) == shownPending {
				continue
			}
		}
		if n.Ready() != nil {
			continue // NATS is away: the heartbeat (and what failed) is written once it is back
		}
		if n.beat() {
			n.lapsed.Store(true)
		}
		select {
		case n.repairs <- struct{}{}:
		default: // a repair is under way or asked for
		}
	}
}

// repairLoop writes the records and deletes that failed, when loop asks.
func (n *Node) repairLoop() {
	defer n.loopWG.Done()
	for {
		select {
		case <-n.stopCtx.Done():
			return
		case <-n.repairs:
			n.repair()
		}
	}
}

// Close leaves the cluster: no more forwarded commands (those running
// finish), the node's heartbeat and records deleted, the NATS connection
// closed. The chargers' records were removed as their sockets closed
// (Release); any left are deleted here (if NATS is away, they are stale
// once the heartbeat expires).
func (n *Node) Close() {
	n.once.Do(func() {
		n.stop()
		n.loopWG.Wait()
		n.unsubscribe()
		n.serveMu.Lock()
		n.leaving = true
		n.serveMu.Unlock()
		n.serveWG.Wait()
		n.mu.Lock()
		left := make(map[string]holding, len(n.held))
		for id, h := range n.held {
			left[id] = h
		}
		for id, h := range n.releasing {
			if _, again := left[id]; !again {
				left[id] = h
			}
		}
		n.held, n.pending, n.releasing = map[string]holding{}, map[string]struct{}{}, map[string]holding{}
		n.mu.Unlock()
		if n.Ready() == nil { // else the heartbeat expires by its TTL
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			_ = n.nodes.Delete(ctx, n.cfg.NodeID) // first: its records are stale at once
			cancel()
			for id, h := range left {
				n.deleteOurs(id, h)
			}
		}
		n.nc.Close()
	})
}

// abandon stops the node as a crash would: nothing is deleted, the
// heartbeat expires by its TTL (tests of a node's death).
func (n *Node) abandon() {
	n.once.Do(func() {
		n.stop()
		n.loopWG.Wait()
		n.unsubscribe()
		n.serveMu.Lock()
		n.leaving = true
		n.serveMu.Unlock()
		n.serveWG.Wait()
		n.nc.Close()
	})
}

func (n *Node) unsubscribe() {
	for _, sub := range []*nats.Subscription{n.sub, n.evicts, n.whos} {
		if sub != nil {
			_ = sub.Unsubscribe()
		}
	}
}

// Nodes lists the nodes whose entries have not expired, by id.
func (n *Node) Nodes(ctx context.Context) ([]NodeInfo, error) {
	// The stream's subjects, not ListKeys: its consumer may miss a key
	// rewritten while it lists, and every node rewrites its key often.
	st, err := n.js.Stream(ctx, "KV_"+n.names.nodes)
	if err != nil {
		return nil, fmt.Errorf("list cluster nodes: %w", err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("$KV."+n.names.nodes+".>"))
	if err != nil {
		return nil, fmt.Errorf("list cluster nodes: %w", err)
	}
	var keys []string
	for subj := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subj, "$KV."+n.names.nodes+"."))
	}
	var out []NodeInfo
	for _, k := range keys {
		e, err := n.nodes.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cluster node %s: %w", k, err)
		}
		var info NodeInfo
		if err := json.Unmarshal(e.Value(), &info); err != nil {
			return nil, fmt.Errorf("cluster node %s: %w", k, err)
		}
		out = append(out, info)
	}
	n.forgetGone(out)
	slices.SortFunc(out, func(a, b NodeInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
