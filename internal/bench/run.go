package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/chargebridge/chargebridge/internal/security"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// Scenario is one measurement: a load shape at a fleet size.
type Scenario struct {
	// Name is idle (boot + heartbeats), charging (sessions with MeterValues
	// every MeterInterval), saturation (back-to-back MeterValues, one call
	// outstanding per charger) or paced (one MeterValues per charger per
	// Interval: a known offered rate).
	Name          string        `json:"name"`
	Chargers      int           `json:"chargers"`
	Interval      time.Duration `json:"interval,omitempty"`
	MeterInterval time.Duration `json:"meter_interval,omitempty"`
}

// Options configure a benchmark run.
type Options struct {
	// Exe is the chargebridge binary to run as server, worker and ceiling.
	Exe string
	// ServerExe, when set, is the chargebridge binary run as the server
	// (another build, to compare two versions under the same load
	// generator and ceiling).
	ServerExe string
	Scenarios []Scenario
	// DB is the server's --db; empty means a fresh SQLite file per scenario.
	DB string
	// Window is how long each scenario is measured once its fleet is up.
	Window time.Duration
	// PerWorker caps the chargers of one worker process (open-file limit).
	PerWorker int
	// RampTimeout is how long a worker waits for its chargers to connect
	// before it measures what it has (the worker's default when zero).
	RampTimeout time.Duration
	// Ceiling also runs each scenario against the minimal echo server.
	Ceiling bool
	// TLS serves chargebridge over TLS (wss://) with a certificate made
	// for the run, so the RSS per charger includes its TLS state. The
	// ceiling stays plain.
	TLS bool
	// ProfileDir, when set, starts chargebridge with --pprof and saves a
	// CPU profile of the measurement window and a heap profile at its end
	// there (SCENARIO-CHARGERS-cpu.pprof, -heap.pprof).
	ProfileDir string
	// ServerArgs are added to chargebridge's serve command line.
	ServerArgs []string
	// Nodes, when above zero, runs every scenario against that many
	// serve processes forming a cluster (--nats, --node-id) on a fresh
	// schema of DB (DefaultNodesDB when empty; a postgres:// URL) and the
	// NATS server at NATS (when empty, a nats-server of the scenario's
	// own: the cluster's stream and buckets have fixed names, so a shared
	// NATS server would mix runs); the fleet lists
	// every node's URL, so each charger picks one by its id. No ceiling.
	Nodes int
	NATS  string
	// CommandRate is the operator commands per second sent during each
	// window of a run with two nodes or more (DefaultCommandRate when
	// zero, none when negative): half to the node that holds the charger,
	// half to another one.
	CommandRate float64
	// Generator is the load generator of every worker: GeneratorSim
	// (default when empty) or GeneratorExternal, for the ceiling as for
	// chargebridge.
	Generator string
	// Progress receives one line per step.
	Progress io.Writer
	// Repeat runs the scenario list this many times (1 when 0), each
	// scenario against chargebridge then the ceiling: on a shared machine
	// one ratio to the ceiling can be off by ±20 %, and the median of
	// several pairs is steadier.
	Repeat int
}

// Result is one scenario's figures against one target.
type Result struct {
	Scenario Scenario `json:"scenario"`
	// Pair numbers the scenario's runs: chargebridge and the ceiling run
	// right after it share one.
	Pair   int    `json:"pair"`
	Target string `json:"target"` // "chargebridge" or "ceiling"
	// Generator is the load generator (GeneratorSim or GeneratorExternal);
	// GeneratorNote its own account of the window's calls and errors.
	Generator     string  `json:"generator"`
	GeneratorNote string  `json:"generator_note,omitempty"`
	Workers       int     `json:"workers"`
	Connected     int64   `json:"connected"`
	CallsPerSec   float64 `json:"calls_per_sec"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	P999ms        float64 `json:"p999_ms"`
	CallErrors    int64   `json:"call_errors"`
	DialErrors    int64   `json:"dial_errors"`
	RSSBaseMB     float64 `json:"server_rss_base_mb"`
	RSSConnMB     float64 `json:"server_rss_connected_mb"`
	RSSEndMB      float64 `json:"server_rss_end_mb"`
	RSSPerCharger float64 `json:"server_rss_per_charger_kb"`
	// RSSEndPerCharger is the RSS growth per charger at the end of the
	// window, under the scenario's load (buffers and calls in flight).
	RSSEndPerCharger float64 `json:"server_rss_end_per_charger_kb"`
	// ServerCPU is the server's CPU time over the window, in cores (1.0 is
	// one core busy); CPUPerCall divides it by the calls answered.
	ServerCPU    float64 `json:"server_cpu_cores"`
	CPUPerCallUs float64 `json:"server_cpu_us_per_call"`
	// CallsPerCommit is calls answered per store commit over the window,
	// CommitMs the mean time of one commit (from the server's /metrics).
	CallsPerCommit float64 `json:"calls_per_commit,omitempty"`
	CommitMs       float64 `json:"commit_ms,omitempty"`
	ServerFDs      int     `json:"server_fds"`
	ServerFDLimit  int     `json:"server_fd_limit"`
	Limit          string  `json:"limit,omitempty"`
	// Nodes are the per-node figures of a run with several nodes; Local
	// and Cross the latencies of the commands sent during its window.
	Nodes []NodeResult    `json:"nodes,omitempty"`
	Local *CommandLatency `json:"local_commands,omitempty"`
	Cross *CommandLatency `json:"cross_node_commands,omitempty"`
}

// Report is a whole run.
type Report struct {
	Machine string    `json:"machine"`
	Started time.Time `json:"started"`
	Results []Result  `json:"results"`
}

// Run runs every scenario and returns the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Window <= 0 {
		o.Window = 10 * time.Second
	}
	if o.PerWorker <= 0 {
		o.PerWorker = 15000
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Generator == "" {
		o.Generator = GeneratorSim
	}
	rep := &Report{Machine: machine(), Started: time.Now().UTC()}
	var scenarios []Scenario
	for range max(o.Repeat, 1) {
		scenarios = append(scenarios, o.Scenarios...)
	}
	for pair, sc := range scenarios {
		if o.Nodes > 0 {
			fmt.Fprintf(o.Progress, "== %s, %d chargers, against %d nodes\n", sc.Name, sc.Chargers, o.Nodes)
			settle()
			r, err := runNodes(ctx, o, sc)
			if err != nil {
				return rep, fmt.Errorf("%s/%d/%d nodes: %w", sc.Name, sc.Chargers, o.Nodes, err)
			}
			r.Pair = pair
			fmt.Fprintf(o.Progress, "   connected %d, %.0f calls/s, p50 %.2f ms, p99 %.2f ms, %.2f KB RSS per charger %s\n",
				r.Connected, r.CallsPerSec, r.P50ms, r.P99ms, r.RSSPerCharger, r.Limit)
			rep.Results = append(rep.Results, r)
			continue
		}
		targets := []string{"chargebridge"}
		if o.Ceiling {
			targets = append(targets, "ceiling")
		}
		for _, target := range targets {
			fmt.Fprintf(o.Progress, "== %s, %d chargers, against %s\n", sc.Name, sc.Chargers, target)
			settle()
			r, err := runOne(ctx, o, sc, target)
			if err != nil {
				return rep, fmt.Errorf("%s/%d/%s: %w", sc.Name, sc.Chargers, target, err)
			}
			r.Pair = pair
			fmt.Fprintf(o.Progress, "   connected %d, %.0f calls/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, %.2f KB RSS per charger (%.2f KB at the end), server CPU %.2f cores, %.1f µs per call %s\n",
				r.Connected, r.CallsPerSec, r.P50ms, r.P99ms, r.P999ms, r.RSSPerCharger, r.RSSEndPerCharger, r.ServerCPU, r.CPUPerCallUs, r.Limit)
			if r.GeneratorNote != "" {
				fmt.Fprintf(o.Progress, "   %s\n", r.GeneratorNote)
			}
			rep.Results = append(rep.Results, r)
		}
	}
	return rep, nil
}

func runOne(ctx context.Context, o Options, sc Scenario, target string) (Result, error) {
	res := Result{Scenario: sc, Target: target, Generator: o.Generator}
	port, err := freePort()
	if err != nil {
		return res, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var args []string
	if target == "ceiling" {
		args = []string{"bench-echo", "--http", addr}
	} else {
		db := o.DB
		if db == "" {
			dir, err := os.MkdirTemp("", "chargebridge-bench-")
			if err != nil {
				return res, err
			}
			defer os.RemoveAll(dir)
			db = "sqlite:" + filepath.Join(dir, "bench.db")
		}
		args = []string{"serve", "--http", addr, "--db", db, "--auto-register", "--accept-unknown-tags",
			"--log-level", "error", "--heartbeat-interval", "10s", "--ping-interval", "60s"}
		if o.ProfileDir != "" {
			args = append(args, "--pprof")
		}
		args = append(args, o.ServerArgs...)
	}
	scheme, wsScheme, caFile := "http", "ws", ""
	if o.TLS && target != "ceiling" {
		dir, err := os.MkdirTemp("", "chargebridge-bench-tls-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		cert, key, ca, err := benchCerts(dir)
		if err != nil {
			return res, err
		}
		args = append(args, "--tls-cert", cert, "--tls-key", key)
		scheme, wsScheme, caFile = "https", "wss", ca
		res.Target = "chargebridge-tls"
	}
	sctx, stopServer := context.WithCancel(ctx)
	defer stopServer()
	exe := o.Exe
	if o.ServerExe != "" && target != "ceiling" {
		exe = o.ServerExe
	}
	srv := exec.CommandContext(sctx, exe, args...)
	srv.Cancel = func() error { return srv.Process.Signal(os.Interrupt) }
	srv.WaitDelay = 20 * time.Second
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return res, fmt.Errorf("start server: %w", err)
	}
	defer func() { stopServer(); _ = srv.Wait() }()
	if err := waitHealthy(ctx, scheme+"://"+addr+"/healthz", caFile); err != nil {
		return res, err
	}
	time.Sleep(time.Second)
	pid := srv.Process.Pid
	res.RSSBaseMB = rssMB(pid)

	fl, err := startFleet(ctx, o, sc, wsScheme+"://"+addr+"/ocpp", caFile)
	if err != nil {
		return res, err
	}
	defer fl.stop()
	res.Workers, res.Connected = len(fl.workers), fl.connected
	wanted, ready := fl.wanted, fl.ready
	res.RSSConnMB = rssMB(pid)
	res.ServerFDs, res.ServerFDLimit = fds(pid)
	if res.Connected > 0 {
		res.RSSPerCharger = (res.RSSConnMB - res.RSSBaseMB) * 1024 / float64(res.Connected)
	}
	if res.Connected < int64(wanted) {
		res.Limit = limitHit(res, ready)
	}
	if err := fl.measure(); err != nil {
		return res, err
	}
	cpu0, t0 := cpuTime(pid), time.Now()
	var m0 map[string]float64
	if target == "chargebridge" {
		m0 = scrape(ctx, scheme+"://"+addr+"/metrics", caFile)
	}
	var prof chan error
	if o.ProfileDir != "" && target == "chargebridge" {
		prof = make(chan error, 1)
		base := filepath.Join(o.ProfileDir, fmt.Sprintf("%s-%d", sc.Name, sc.Chargers))
		secs := max(int((o.Window-time.Second)/time.Second), 1)
		go func() {
			prof <- fetch(ctx, fmt.Sprintf("%s://%s/debug/pprof/profile?seconds=%d", scheme, addr, secs), caFile, base+"-cpu.pprof")
		}()
	}
	lat, secs, err := fl.results(&res)
	if err != nil {
		return res, err
	}
	res.RSSEndMB = rssMB(pid)
	if wall := time.Since(t0).Seconds(); wall > 0 {
		res.ServerCPU = (cpuTime(pid) - cpu0) / wall
	}
	if m0 != nil {
		m1 := scrape(ctx, scheme+"://"+addr+"/metrics", caFile)
		const cnt, sum = "chargebridge_store_commit_seconds_count", "chargebridge_store_commit_seconds_sum"
		if n := m1[cnt] - m0[cnt]; n > 0 {
			res.CallsPerCommit = float64(lat.Count()) / n
			res.CommitMs = (m1[sum] - m0[sum]) / n * 1000
		}
	}
	if res.Connected > 0 {
		res.RSSEndPerCharger = (res.RSSEndMB - res.RSSBaseMB) * 1024 / float64(res.Connected)
	}
	if prof != nil {
		if err := <-prof; err != nil {
			fmt.Fprintf(o.Progress, "   cpu profile: %v\n", err)
		}
		base := filepath.Join(o.ProfileDir, fmt.Sprintf("%s-%d", sc.Name, sc.Chargers))
		if err := fetch(ctx, fmt.Sprintf("%s://%s/debug/pprof/heap", scheme, addr), caFile, base+"-heap.pprof"); err != nil {
			fmt.Fprintf(o.Progress, "   heap profile: %v\n", err)
		}
		if err := fetch(ctx, fmt.Sprintf("%s://%s/metrics", scheme, addr), caFile, base+"-metrics.txt"); err != nil {
			fmt.Fprintf(o.Progress, "   metrics: %v\n", err)
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid)); err == nil {
			_ = os.WriteFile(base+"-smaps.txt", b, 0o644)
		}
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

// fleet is the load processes of one scenario: the chargers split over
// workers of at most Options.PerWorker each, each dialing from its own
// source address.
type fleet struct {
	workers   []*worker
	ready     []workerReport
	connected int64
	wanted    int
	// prefixes and counts name the chargers: worker i runs ids
	// prefixes[i] followed by 00001 … counts[i].
	prefixes []string
	counts   []int
}

// startFleet starts the workers against url (several comma-separated for
// the nodes of a cluster) and waits until each has its chargers connected
// or gave up.
func startFleet(ctx context.Context, o Options, sc Scenario, url, caFile string) (*fleet, error) {
	nw := (sc.Chargers + o.PerWorker - 1) / o.PerWorker
	f := &fleet{}
	for i := range nw {
		n := sc.Chargers / nw
		if i < sc.Chargers%nw {
			n++
		}
		prefix := fmt.Sprintf("B%d-", i)
		wargs := []string{"bench-worker", "--url", url, "--ca", caFile, "--chargers", strconv.Itoa(n),
			"--prefix", prefix, "--source", fmt.Sprintf("127.0.0.%d", 2+i),
			"--scenario", sc.Name, "--window", o.Window.String()}
		if o.Generator != "" && o.Generator != GeneratorSim {
			wargs = append(wargs, "--generator", o.Generator)
		}
		if sc.Interval > 0 {
			wargs = append(wargs, "--interval", sc.Interval.String())
		}
		if sc.MeterInterval > 0 {
			wargs = append(wargs, "--meter-interval", sc.MeterInterval.String())
		}
		if o.RampTimeout > 0 {
			wargs = append(wargs, "--ramp-timeout", o.RampTimeout.String())
		}
		w, err := startWorker(ctx, o.Exe, wargs)
		if err != nil {
			f.stop()
			return nil, err
		}
		f.workers = append(f.workers, w)
		f.prefixes, f.counts = append(f.prefixes, prefix), append(f.counts, n)
	}
	for _, w := range f.workers {
		r, err := w.next("ready")
		if err != nil {
			f.stop()
			return nil, err
		}
		f.ready = append(f.ready, r)
		f.connected += r.Connected
		f.wanted += r.Wanted
	}
	return f, nil
}

// measure tells every worker to start its window.
func (f *fleet) measure() error {
	for _, w := range f.workers {
		if _, err := io.WriteString(w.stdin, "go\n"); err != nil {
			return err
		}
	}
	return nil
}

// results waits for every worker's window and merges their latencies;
// it adds their call and dial errors to res.
func (f *fleet) results(res *Result) (*sim.Histogram, float64, error) {
	lat := &sim.Histogram{}
	var secs float64
	for _, w := range f.workers {
		r, err := w.next("result")
		if err != nil {
			return nil, 0, err
		}
		if r.Latency != nil {
			lat.Merge(r.Latency)
		}
		secs = max(secs, r.Seconds)
		res.CallErrors += r.CallErrors
		res.DialErrors += r.DialErrors
		if r.Note != "" {
			if res.GeneratorNote != "" {
				res.GeneratorNote += "; "
			}
			res.GeneratorNote += r.Note
		}
	}
	return lat, secs, nil
}

// stop interrupts every worker, then waits for them all.
func (f *fleet) stop() {
	for _, w := range f.workers {
		w.cancel()
		_ = w.stdin.Close()
	}
	for _, w := range f.workers {
		w.stop()
	}
}

// limitHit says which limit kept the fleet from connecting in full.
func limitHit(r Result, ready []workerReport) string {
	if r.ServerFDLimit > 0 && r.ServerFDs >= r.ServerFDLimit-64 {
		return fmt.Sprintf("server open-file limit: %d of %d file descriptors in use", r.ServerFDs, r.ServerFDLimit)
	}
	var dial int64
	for _, w := range ready {
		dial += w.DialErrors
	}
	if dial > 0 {
		return fmt.Sprintf("%d failed connection attempts (server fds %d of %d)", dial, r.ServerFDs, r.ServerFDLimit)
	}
	return fmt.Sprintf("ramp timed out (server fds %d of %d)", r.ServerFDs, r.ServerFDLimit)
}

type worker struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	lines    *bufio.Scanner
	cancel   context.CancelFunc
	waitOnce sync.Once
}

func startWorker(ctx context.Context, exe string, args []string) (*worker, error) {
	wctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(wctx, exe, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	return &worker{cmd: cmd, stdin: stdin, lines: sc, cancel: cancel}, nil
}

func (w *worker) next(event string) (workerReport, error) {
	var junk string
	for w.lines.Scan() {
		var r workerReport
		if err := json.Unmarshal(w.lines.Bytes(), &r); err != nil {
			junk = fmt.Sprintf("%.200s (%v)", w.lines.Text(), err)
			continue
		}
		if r.Event == event {
			return r, nil
		}
	}
	if err := w.lines.Err(); err != nil {
		return workerReport{}, err
	}
	var werr error
	w.waitOnce.Do(func() { werr = w.cmd.Wait() })
	return workerReport{}, fmt.Errorf("worker ended before reporting %s (exit: %v; last unreadable line: %q)", event, werr, junk)
}

func (w *worker) stop() {
	w.cancel()
	_ = w.stdin.Close()
	w.waitOnce.Do(func() { _ = w.cmd.Wait() })
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitHealthy(ctx context.Context, url, caFile string) error {
	client := http.DefaultClient
	if caFile != "" {
		pool, err := security.LoadCertPool(caFile)
		if err != nil {
			return err
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("server did not become healthy in 30s")
}

// rssMB reads a process's resident set size.
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// cpuTime reads a process's user plus system CPU time, in seconds.
func cpuTime(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; count from its end.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// scrape reads the unlabelled samples of a Prometheus text page; nil when
// it cannot be read.
func scrape(ctx context.Context, url, caFile string) map[string]float64 {
	f, err := os.CreateTemp("", "chargebridge-metrics-")
	if err != nil {
		return nil
	}
	defer os.Remove(f.Name())
	f.Close()
	if err := fetch(ctx, url, caFile, f.Name()); err != nil {
		return nil
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return nil
	}
	return parseMetrics(b)
}

// parseMetrics reads the unlabelled samples of a Prometheus text page.
func parseMetrics(b []byte) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// fetch saves the body of a GET to file.
func fetch(ctx context.Context, url, caFile, file string) error {
	client := http.DefaultClient
	if caFile != "" {
		pool, err := security.LoadCertPool(caFile)
		if err != nil {
			return err
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fds returns a process's open file descriptors and its limit.
func fds(pid int) (open, limit int) {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	open = len(ents)
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			f := strings.Fields(line)
			if len(f) >= 5 {
				limit, _ = strconv.Atoi(f[3])
			}
		}
	}
	return open, limit
}

func machine() string {
	s := fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line := strings.SplitN(string(b), "\n", 2)[0]
		s += ", " + strings.Join(strings.Fields(line), " ")
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				s += ", " + strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	return s
}

// WriteTable prints the report as a table.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "machine: %s\n", r.Machine)
	if len(r.Results) > 0 && r.Results[0].Generator == GeneratorExternal {
		fmt.Fprintf(w, "load generator: external (internal/bench/extgen: OCPP 1.6J on gorilla/websocket, no code shared with the server)\n")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tchargers\ttarget\tworkers\tconnected\tcalls/s\tp50 ms\tp99 ms\tp99.9 ms\terrors\tRSS base MB\tRSS conn MB\tKB/charger\tKB/charger end\tCPU cores\tCPU µs/call\tserver fds\t")
	for _, x := range r.Results {
		name := x.Scenario.Name
		if x.Scenario.Interval > 0 {
			name += " " + x.Scenario.Interval.String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.1f\t%d/%d\t\n",
			name, x.Scenario.Chargers, x.Target, x.Workers, x.Connected, x.CallsPerSec, x.P50ms, x.P99ms, x.P999ms,
			x.CallErrors, x.RSSBaseMB, x.RSSConnMB, x.RSSPerCharger, x.RSSEndPerCharger, x.ServerCPU, x.CPUPerCallUs, x.ServerFDs, x.ServerFDLimit)
	}
	tw.Flush()
	r.writeNodes(w)
	r.writeRatios(w)
	for _, x := range r.Results {
		if x.GeneratorNote != "" {
			fmt.Fprintf(w, "%s %d %s: %s\n", x.Scenario.Name, x.Scenario.Chargers, x.Target, x.GeneratorNote)
		}
	}
	for _, x := range r.Results {
		if x.Limit != "" {
			fmt.Fprintf(w, "%s %d %s: limit hit: %s\n", x.Scenario.Name, x.Scenario.Chargers, x.Target, x.Limit)
		}
	}
}

// benchCerts makes a CA and a server certificate for 127.0.0.1 in dir and
// returns the certificate, key and CA files.
func benchCerts(dir string) (cert, key, caFile string, err error) {
	caFile, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	ca, err := security.InitCA(caFile, filepath.Join(dir, "ca-key.pem"), "chargebridge bench CA", 24*time.Hour)
	if err != nil {
		return "", "", "", err
	}
	c, k, err := ca.Issue([]string{"127.0.0.1"}, false, 24*time.Hour)
	if err != nil {
		return "", "", "", err
	}
	if err := os.WriteFile(key, k, 0o600); err != nil {
		return "", "", "", err
	}
	return cert, key, caFile, os.WriteFile(cert, c, 0o600)
}

// writeRatios prints each scenario's chargebridge figures against the
// ceiling measured in the same run, right after it: the only comparison
// that holds on a shared machine. A scenario run several times (Repeat)
// also gets the median of its ratios.
func (r *Report) writeRatios(w io.Writer) {
	ceil := map[int]Result{}
	for _, x := range r.Results {
		if x.Target == "ceiling" {
			ceil[x.Pair] = x
		}
	}
	type key struct {
		name     string
		chargers int
		interval time.Duration
	}
	var order []key
	ratios := map[key][]float64{}
	for _, x := range r.Results {
		c, ok := ceil[x.Pair]
		if x.Target == "ceiling" || !ok || c.CallsPerSec == 0 {
			continue
		}
		ratio := x.CallsPerSec / c.CallsPerSec
		fmt.Fprintf(w, "%s %d: %s/ceiling calls/s %.3f, p50 %+.2f ms, p99 %+.2f ms, CPU per call %.1f vs %.1f µs, RSS per charger at the end %.1f vs %.1f KB; %.1f calls per commit of %.2f ms\n",
			x.Scenario.Name, x.Scenario.Chargers, x.Target, ratio,
			x.P50ms-c.P50ms, x.P99ms-c.P99ms, x.CPUPerCallUs, c.CPUPerCallUs, x.RSSEndPerCharger, c.RSSEndPerCharger,
			x.CallsPerCommit, x.CommitMs)
		k := key{x.Scenario.Name, x.Scenario.Chargers, x.Scenario.Interval}
		if ratios[k] == nil {
			order = append(order, k)
		}
		ratios[k] = append(ratios[k], ratio)
	}
	for _, k := range order {
		rs := ratios[k]
		if len(rs) < 2 {
			continue
		}
		slices.Sort(rs)
		med := rs[len(rs)/2]
		if len(rs)%2 == 0 {
			med = (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
		}
		fmt.Fprintf(w, "%s %d: median chargebridge/ceiling calls/s over %d pairs %.3f (%.3f to %.3f)\n", k.name, k.chargers, len(rs), med, rs[0], rs[len(rs)-1])
	}
}
