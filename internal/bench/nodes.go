package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cluster"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// Defaults of a run with several nodes: the services of this machine.
const (
	DefaultNodesDB = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	// DefaultCommandRate is the operator commands per second sent during
	// each window of a run with several nodes.
	DefaultCommandRate = 50
)

// NodeResult is one node's figures in a run with several nodes.
type NodeResult struct {
	ID string `json:"id"`
	// Chargers is the node's open charger connections (its /metrics
	// gauge chargebridge_chargers_connected); Presence the chargers the
	// cluster view (GET /api/v1/cluster) says it holds.
	Chargers      int64   `json:"chargers"`
	Presence      int     `json:"presence"`
	RSSBaseMB     float64 `json:"rss_base_mb"`
	RSSConnMB     float64 `json:"rss_connected_mb"`
	RSSEndMB      float64 `json:"rss_end_mb"`
	RSSPerCharger float64 `json:"rss_per_charger_kb"`
	CPU           float64 `json:"cpu_cores"`
	FDs           int     `json:"fds"`
	FDLimit       int     `json:"fd_limit"`
}

// CommandLatency is the round trip of operator commands sent through the
// API during the window: POST /api/v1/chargers/{id}/actions/unlock to the
// node that holds the charger (local) or to another one (cross: the node
// forwards it over NATS to the holder).
type CommandLatency struct {
	Count  uint64  `json:"count"`
	Errors int64   `json:"errors"`
	P50ms  float64 `json:"p50_ms"`
	P99ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	// FirstError is one failed command's answer, to say why.
	FirstError string `json:"first_error,omitempty"`
	// Phases is where the forwarded commands' time went, from the nodes'
	// chargebridge_cluster_forward_seconds histograms over the window
	// (all commands the nodes forwarded, cross-node ones only).
	Phases []PhaseTime `json:"phases,omitempty"`
}

// PhaseTime is one part of the forwarded commands' time (cluster.Phases):
// how many, their mean, and their median and 99th percentile estimated
// from the histogram's buckets (the bucket's upper bound; -1: above the
// largest).
type PhaseTime struct {
	Phase  string  `json:"phase"`
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50ms  float64 `json:"p50_ms"`
	P99ms  float64 `json:"p99_ms"`
}

// forwardHist is the nodes' chargebridge_cluster_forward_seconds
// histograms summed: per phase, the cumulative count per upper bound, the
// count and the sum.
type forwardHist map[string]*phaseHist

type phaseHist struct {
	buckets map[float64]float64
	count   float64
	sum     float64
}

// scrapeForward reads and sums the forward histograms of the nodes.
func scrapeForward(ctx context.Context, nodes []*node) forwardHist {
	h := forwardHist{}
	for _, n := range nodes {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.addr+"/metrics", nil)
		if err != nil {
			continue
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h.add(b)
	}
	return h
}

// add adds the samples of a Prometheus text page.
func (h forwardHist) add(page []byte) {
	const name = "chargebridge_cluster_forward_seconds"
	for _, line := range strings.Split(string(page), "\n") {
		if !strings.HasPrefix(line, name+"_") {
			continue
		}
		metric, val, ok := strings.Cut(line, " ")
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if !ok || err != nil {
			continue
		}
		kind, labels, _ := strings.Cut(strings.TrimPrefix(metric, name+"_"), "{")
		phase, le := "", ""
		for _, l := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
			k, v, _ := strings.Cut(l, "=")
			switch k {
			case "phase":
				phase = strings.Trim(v, `"`)
			case "le":
				le = strings.Trim(v, `"`)
			}
		}
		if phase == "" {
			continue
		}
		p := h[phase]
		if p == nil {
			p = &phaseHist{buckets: map[float64]float64{}}
			h[phase] = p
		}
		switch kind {
		case "count":
			p.count += v
		case "sum":
			p.sum += v
		case "bucket":
			ub, err := strconv.ParseFloat(le, 64)
			if err != nil { // +Inf
				ub = math.Inf(1)
			}
			p.buckets[ub] += v
		}
	}
}

// since returns the phases' figures between an earlier scrape and h, in
// order.
func (h forwardHist) since(before forwardHist, order []string) []PhaseTime {
	var out []PhaseTime
	for _, phase := range order {
		p := h[phase]
		if p == nil {
			continue
		}
		b := before[phase]
		if b == nil {
			b = &phaseHist{buckets: map[float64]float64{}}
		}
		n := p.count - b.count
		if n <= 0 {
			continue
		}
		bounds := make([]float64, 0, len(p.buckets))
		for ub := range p.buckets {
			bounds = append(bounds, ub)
		}
		slices.Sort(bounds)
		// An estimate above the largest finite bound is -1 (JSON has no
		// infinity).
		q := func(q float64) float64 {
			for _, ub := range bounds {
				if p.buckets[ub]-b.buckets[ub] >= q*n {
					if math.IsInf(ub, 1) {
						return -1
					}
					return ub * 1000
				}
			}
			return -1
		}
		out = append(out, PhaseTime{Phase: phase, Count: uint64(n), MeanMs: (p.sum - b.sum) / n * 1000, P50ms: q(0.5), P99ms: q(0.99)})
	}
	return out
}

// node is one chargebridge serve process of a run with several nodes.
type node struct {
	id   string
	addr string
	cmd  *exec.Cmd
	stop context.CancelFunc
}

// freshSchema creates a schema of its own for one scenario in the
// PostgreSQL database dsn and returns dsn with search_path set to it, and
// a function that drops it.
func freshSchema(ctx context.Context, dsn string) (string, func(), error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, errors.New("several nodes share one PostgreSQL database: --db must be a postgres:// URL")
	}
	b := make([]byte, 4)
	rand.Read(b)
	schema := "cbbench_" + hex.EncodeToString(b)
	// The pool's own parameters (pool_max_conns …) are for the nodes;
	// PostgreSQL would refuse them as settings of this one connection.
	plain := *u
	pq := plain.Query()
	for k := range pq {
		if strings.HasPrefix(k, "pool_") {
			pq.Del(k)
		}
	}
	plain.RawQuery = pq.Encode()
	dsn = plain.String()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", nil, fmt.Errorf("connect to %s: %w", u.Redacted(), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(dctx, dsn)
		if err != nil {
			return
		}
		defer conn.Close(dctx)
		_, _ = conn.Exec(dctx, "DROP SCHEMA "+schema+" CASCADE")
	}
	return u.String(), drop, nil
}

// startNATS runs a NATS server of the scenario's own (nats-server from
// PATH, JetStream on, its store in a temporary directory) on loopback and
// returns its URL and a function that stops it. A cluster's stream,
// consumers and buckets have fixed names, so on a NATS server shared with
// another run (or another cluster) the nodes would take each other's
// events and presence entries.
func startNATS(ctx context.Context) (string, func(), error) {
	exe, err := exec.LookPath("nats-server")
	if err != nil {
		return "", nil, errors.New("no nats-server on PATH to run the cluster's NATS: install it or pass --nats URL (a NATS server with JetStream that no other cluster uses)")
	}
	dir, err := os.MkdirTemp("", "chargebridge-bench-nats-")
	if err != nil {
		return "", nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	mon, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	nctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(nctx, exe, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(mon),
		"-js", "-sd", dir, "-l", filepath.Join(dir, "nats.log"))
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("start nats-server: %w", err)
	}
	stop := func() {
		cancel()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	if err := waitHealthy(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", mon), ""); err != nil {
		stop()
		return "", nil, fmt.Errorf("nats-server: %w", err)
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", port), stop, nil
}

// runNodes runs a scenario against o.Nodes serve processes that form a
// cluster on one PostgreSQL schema and NATS (a server of its own unless
// o.NATS names one): the fleet's URL lists every
// node, so each charger connects to the node its id picks (sim.HomeNode).
func runNodes(ctx context.Context, o Options, sc Scenario) (Result, error) {
	res := Result{Scenario: sc, Target: fmt.Sprintf("chargebridge×%d", o.Nodes)}
	dbURL := o.DB
	if dbURL == "" {
		dbURL = DefaultNodesDB
	}
	natsURL := o.NATS
	if natsURL == "" {
		u, stop, err := startNATS(ctx)
		if err != nil {
			return res, err
		}
		defer stop()
		natsURL = u
	}
	db, drop, err := freshSchema(ctx, dbURL)
	if err != nil {
		return res, err
	}
	defer drop()
	// Node ids are new per scenario: presence entries of an earlier run
	// in the same NATS server expire by their TTL and are not counted.
	tag := make([]byte, 3)
	rand.Read(tag)
	nodes := make([]*node, o.Nodes)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.stop()
			}
		}
		for _, n := range nodes {
			if n != nil {
				_ = n.cmd.Wait()
			}
		}
	}()
	for i := range nodes {
		port, err := freePort()
		if err != nil {
			return res, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		id := fmt.Sprintf("bench-%s-%d", hex.EncodeToString(tag), i+1)
		args := []string{"serve", "--http", addr, "--db", db, "--nats", natsURL, "--node-id", id,
			"--auto-register", "--accept-unknown-tags",
			"--log-level", "error", "--heartbeat-interval", "10s", "--ping-interval", "60s"}
		args = append(args, o.ServerArgs...)
		exe := o.Exe
		if o.ServerExe != "" {
			exe = o.ServerExe
		}
		sctx, stop := context.WithCancel(ctx)
		cmd := exec.CommandContext(sctx, exe, args...)
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 20 * time.Second
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			stop()
			return res, fmt.Errorf("start node %s: %w", id, err)
		}
		nodes[i] = &node{id: id, addr: addr, cmd: cmd, stop: stop}
		// The first node migrates the fresh schema; the others start
		// once it is healthy so they do not race on the migrations.
		if i == 0 {
			if err := waitHealthy(ctx, "http://"+addr+"/healthz", ""); err != nil {
				return res, fmt.Errorf("node %s: %w", id, err)
			}
		}
	}
	for _, n := range nodes[1:] {
		if err := waitHealthy(ctx, "http://"+n.addr+"/healthz", ""); err != nil {
			return res, fmt.Errorf("node %s: %w", n.id, err)
		}
	}
	time.Sleep(time.Second)
	res.Nodes = make([]NodeResult, len(nodes))
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		res.Nodes[i] = NodeResult{ID: n.id, RSSBaseMB: rssMB(n.cmd.Process.Pid)}
		urls[i] = "ws://" + n.addr + "/ocpp"
	}
	fmt.Fprintf(o.Progress, "   %d nodes up: %s\n", len(nodes), strings.Join(urls, ","))

	// The ramp's progress as the nodes see it, until the fleet is up.
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); watchNodes(wctx, nodes, 30*time.Second, o.Progress) }()
	fl, err := startFleet(ctx, o, sc, strings.Join(urls, ","), "")
	stopWatch()
	<-watched
	if err != nil {
		return res, err
	}
	defer fl.stop()
	res.Workers, res.Connected = len(fl.workers), fl.connected
	for i, n := range nodes {
		nr := &res.Nodes[i]
		nr.RSSConnMB = rssMB(n.cmd.Process.Pid)
		nr.FDs, nr.FDLimit = fds(n.cmd.Process.Pid)
		nr.Chargers = int64(scrape(ctx, "http://"+n.addr+"/metrics", "")["chargebridge_chargers_connected"])
		if nr.Chargers > 0 {
			nr.RSSPerCharger = (nr.RSSConnMB - nr.RSSBaseMB) * 1024 / float64(nr.Chargers)
		}
		res.RSSBaseMB += nr.RSSBaseMB
		res.RSSConnMB += nr.RSSConnMB
		res.ServerFDs = max(res.ServerFDs, nr.FDs)
		if res.ServerFDLimit == 0 || nr.FDLimit < res.ServerFDLimit {
			res.ServerFDLimit = nr.FDLimit
		}
	}
	if res.Connected > 0 {
		res.RSSPerCharger = (res.RSSConnMB - res.RSSBaseMB) * 1024 / float64(res.Connected)
	}
	if res.Connected < int64(fl.wanted) {
		res.Limit = limitHit(res, fl.ready)
	}
	presence(ctx, nodes, &res, o.Progress)

	if err := fl.measure(); err != nil {
		return res, err
	}
	cpu0, t0 := make([]float64, len(nodes)), time.Now()
	for i, n := range nodes {
		cpu0[i] = cpuTime(n.cmd.Process.Pid)
	}
	if len(nodes) > 1 && o.CommandRate >= 0 {
		before := scrapeForward(ctx, nodes)
		res.Local, res.Cross = commands(ctx, o, nodes, fl)
		res.Cross.Phases = scrapeForward(ctx, nodes).since(before, cluster.Phases)
	}
	lat, secs, err := fl.results(&res)
	if err != nil {
		return res, err
	}
	wall := time.Since(t0).Seconds()
	for i, n := range nodes {
		nr := &res.Nodes[i]
		nr.RSSEndMB = rssMB(n.cmd.Process.Pid)
		if wall > 0 {
			nr.CPU = (cpuTime(n.cmd.Process.Pid) - cpu0[i]) / wall
		}
		res.RSSEndMB += nr.RSSEndMB
		res.ServerCPU += nr.CPU
	}
	if res.Connected > 0 {
		res.RSSEndPerCharger = (res.RSSEndMB - res.RSSBaseMB) * 1024 / float64(res.Connected)
	}
	if secs > 0 {
		res.CallsPerSec = float64(lat.Count()) / secs
		if n := lat.Count(); n > 0 {
			res.CPUPerCallUs = res.ServerCPU * secs / float64(n) * 1e6
		}
	}
	ms := func(q float64) float64 { return float64(lat.Quantile(q).Microseconds()) / 1000 }
	res.P50ms, res.P99ms, res.P999ms = ms(0.5), ms(0.99), ms(0.999)
	return res, nil
}

// presence reads the cluster view of the first node until it counts the
// chargers the nodes' own gauges count (a node rewrites its entry in the
// nodes bucket on its presence refresh) or 30 s pass, and records each
// node's count.
func presence(ctx context.Context, nodes []*node, res *Result, progress io.Writer) {
	var want int64
	for _, nr := range res.Nodes {
		want += nr.Chargers
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st api.ClusterStatus
		err := getJSON(ctx, "http://"+nodes[0].addr+"/api/v1/cluster", &st)
		var got int64
		if err == nil {
			for i := range res.Nodes {
				res.Nodes[i].Presence = 0
				for _, n := range st.Nodes {
					if n.ID == res.Nodes[i].ID {
						res.Nodes[i].Presence = n.Chargers
					}
				}
				got += int64(res.Nodes[i].Presence)
			}
		}
		if got == want || time.Now().After(deadline) || ctx.Err() != nil {
			if err != nil {
				fmt.Fprintf(progress, "   cluster view: %v\n", err)
			}
			return
		}
		time.Sleep(time.Second)
	}
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// commands sends operator commands for the window at o.CommandRate per
// second, each to a random charger of the fleet, alternately to the node
// the charger connects to (sim.HomeNode: it moves only when that node is
// unreachable) and to another node, and returns both latencies.
func commands(ctx context.Context, o Options, nodes []*node, fl *fleet) (local, cross *CommandLatency) {
	rate := o.CommandRate
	if rate <= 0 {
		rate = DefaultCommandRate
	}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	type tally struct {
		mu    sync.Mutex
		lat   sim.Histogram
		res   CommandLatency
		first string
	}
	var tl, tc tally
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	// Stop a little before the workers do: a command racing their
	// shutdown would fail for a charger that is just leaving.
	end := time.After(o.Window - min(time.Second, o.Window/10))
	body := []byte(`{"connector_id":1}`)
loop:
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-tick.C:
		}
		w := mrand.IntN(len(fl.workers))
		id := fmt.Sprintf("%s%05d", fl.prefixes[w], 1+mrand.IntN(fl.counts[w]))
		home := sim.HomeNode(id, len(nodes))
		target, t := home, &tl
		if i%2 == 1 {
			target, t = (home+1+mrand.IntN(len(nodes)-1))%len(nodes), &tc
		}
		select {
		case sem <- struct{}{}:
		default: // 64 in flight: the nodes are saturated; count it
			t.mu.Lock()
			t.res.Errors++
			t.mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			u := "http://" + nodes[target].addr + "/api/v1/chargers/" + url.PathEscape(id) + "/actions/unlock"
			start := time.Now()
			err := post(ctx, client, u, body)
			d := time.Since(start)
			t.mu.Lock()
			defer t.mu.Unlock()
			if err != nil {
				t.res.Errors++
				if t.first == "" {
					t.first = err.Error()
				}
				return
			}
			t.lat.Record(d)
		}()
	}
	wg.Wait()
	out := func(t *tally) *CommandLatency {
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		r := t.res
		r.Count, r.FirstError = t.lat.Count(), t.first
		r.P50ms, r.P99ms, r.MaxMs = ms(t.lat.Quantile(0.5)), ms(t.lat.Quantile(0.99)), ms(t.lat.Max())
		return &r
	}
	return out(&tl), out(&tc)
}

func post(ctx context.Context, client *http.Client, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

// writeNodes prints the per-node figures and command latencies of the
// results with several nodes.
func (r *Report) writeNodes(w io.Writer) {
	for _, x := range r.Results {
		if len(x.Nodes) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s %d over %d nodes:\n", x.Scenario.Name, x.Scenario.Chargers, len(x.Nodes))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "node\tchargers\tpresence\tRSS base MB\tRSS conn MB\tKB/charger\tRSS end MB\tCPU cores\tfds\t")
		for _, n := range x.Nodes {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%.2f\t%.1f\t%.2f\t%d/%d\t\n",
				n.ID, n.Chargers, n.Presence, n.RSSBaseMB, n.RSSConnMB, n.RSSPerCharger, n.RSSEndMB, n.CPU, n.FDs, n.FDLimit)
		}
		tw.Flush()
		for _, c := range []struct {
			name string
			l    *CommandLatency
		}{{"local", x.Local}, {"cross-node", x.Cross}} {
			if c.l == nil {
				continue
			}
			fmt.Fprintf(w, "%s commands (unlock through the API): %d, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d failed",
				c.name, c.l.Count, c.l.P50ms, c.l.P99ms, c.l.MaxMs, c.l.Errors)
			if c.l.FirstError != "" {
				fmt.Fprintf(w, " (first: %.200s)", c.l.FirstError)
			}
			fmt.Fprintln(w)
		}
		if x.Cross != nil && len(x.Cross.Phases) > 0 {
			fmt.Fprint(w, "forwarded commands' time (the nodes' histograms; p50/p99 are bucket bounds):")
			bound := func(ms float64) string {
				if ms < 0 {
					return ">10000"
				}
				return fmt.Sprintf("≤%g", ms)
			}
			for _, p := range x.Cross.Phases {
				fmt.Fprintf(w, " %s %d, mean %.2f ms, p50 %s, p99 %s;", p.Phase, p.Count, p.MeanMs, bound(p.P50ms), bound(p.P99ms))
			}
			fmt.Fprintln(w)
		}
	}
}
