package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/bench"
)

// defaultScenarios measure each target of BENCHMARKS.md in one run.
const defaultScenarios = "idle:1000,idle:5000,idle:19000,charging:5000,saturation:1000,paced:5000@1s"

// defaultExternalScenarios are defaultScenarios less charging, which the
// external generator does not run.
const defaultExternalScenarios = "idle:1000,idle:5000,idle:19000,saturation:1000,paced:5000@1s"

// defaultNodeScenarios measure the cluster of --nodes: a fleet held idle
// and a charging fleet with commands across nodes.
const defaultNodeScenarios = "idle:10000,mixed:2000"

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "[flags]", "Measures a server under simulated load: chargers held, calls/s, latency and memory (see BENCHMARKS.md). "+
		"It starts its own server and load processes; run it on a quiet machine.", stdout)
	scenarios := fs.String("scenarios", defaultScenarios,
		"comma-separated NAME:CHARGERS[@INTERVAL]; NAME is idle, charging, saturation, paced (one MeterValues per charger per INTERVAL) or, with --nodes, mixed (charging over the nodes; default with --nodes: "+defaultNodeScenarios+"), NAME-201 the same with OCPP 2.0.1 stations (TransactionEvent Updated instead of MeterValues)")
	window := fs.Duration("window", 10*time.Second, "measurement window per scenario, once the fleet is connected")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	ceiling := fs.Bool("ceiling", true, "also run every scenario against a minimal WebSocket server that stores nothing")
	db := fs.String("db", "", "server database (default: a fresh SQLite file per scenario)")
	perWorker := fs.Int("per-worker", 15000, "chargers per load process (a process may hold 20 000 open files)")
	meter := fs.Duration("meter-interval", 15*time.Second, "charging scenario: MeterValues interval per charging connector")
	useTLS := fs.Bool("tls", false, "serve chargebridge over TLS (wss://, a certificate made for the run): the RSS per charger then includes its TLS state; the ceiling stays plain")
	profile := fs.String("profile", "", "directory to save a CPU profile of each chargebridge measurement window and a heap profile at its end (the server runs with --pprof)")
	serverExe := fs.String("server-exe", "", "chargebridge binary to run as the server (default: this one), to compare two builds under the same load generator and ceiling")
	nodes := fs.Int("nodes", 0, "run N chargebridge serve processes as one cluster (--nats, --node-id) on a fresh schema of the PostgreSQL --db (default "+bench.DefaultNodesDB+"), each charger connecting to the node its id picks; adds per-node chargers and RSS, and sends commands during each window (--command-rate); no ceiling")
	natsURL := fs.String("nats", "", "with --nodes: the NATS server (JetStream on) of the cluster, used by no other cluster (default: a nats-server from PATH started for each scenario, as the cluster's stream and buckets have fixed names)")
	cmdRate := fs.Float64("command-rate", bench.DefaultCommandRate, "with --nodes 2 or more: operator commands (unlock connector 1 through the API) per second during each window, half to the node holding the charger, half to another node, to measure the cross-node command latency; 0: none")
	generator := fs.String("generator", bench.GeneratorSim, "load generator of every scenario and of the ceiling: "+bench.GeneratorSim+" (chargebridge's simulator) or "+bench.GeneratorExternal+
		" (an OCPP 1.6J generator on gorilla/websocket sharing no code with the server or the simulator: idle, saturation and paced only, plain ws://, one server; default scenarios: "+defaultExternalScenarios+")")
	ramp := fs.Duration("ramp-timeout", 2*time.Minute, "how long each load process waits for its chargers to connect before measuring what it has")
	repeat := fs.Int("repeat", 1, "run the scenarios this many times, each against chargebridge then the ceiling, and print the median of each scenario's ratios to the ceiling as well (one ratio can be off by ±20 % on a shared machine)")
	var serverArgs []string
	fs.Func("server-arg", "extra argument for chargebridge serve (repeat for several)", func(v string) error {
		serverArgs = append(serverArgs, v)
		return nil
	})
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("bench: unexpected argument %q (chargebridge bench -h lists the flags)", pos[0])
	}
	if *repeat < 1 || *repeat > 100 {
		return usagef("bench: --repeat %d: use 1 to 100", *repeat)
	}
	if *nodes < 0 || *nodes > 16 {
		return usagef("bench: --nodes %d: use 1 to 16 (0: one server, no cluster)", *nodes)
	}
	if *generator != bench.GeneratorSim && *nodes > 0 {
		return usagef("bench: --generator %s is for one server (no --nodes)", *generator)
	}
	if *natsURL != "" && *nodes == 0 {
		return usagef("bench: --nats is for --nodes N")
	}
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "scenarios" })
	if !set && *nodes > 0 {
		*scenarios = defaultNodeScenarios
	} else if !set && *generator == bench.GeneratorExternal {
		*scenarios = defaultExternalScenarios
	}
	scs, err := parseScenarios(*scenarios, *meter)
	if err != nil {
		return err
	}
	switch *generator {
	case bench.GeneratorSim:
	case bench.GeneratorExternal:
		if *useTLS {
			return usagef("bench: --generator %s speaks plain ws:// only: drop --tls", *generator)
		}
		for _, sc := range scs {
			if sc.Name != "idle" && sc.Name != "saturation" && sc.Name != "paced" {
				return usagef("bench: --generator %s runs idle, saturation and paced (OCPP 1.6J), not %s", *generator, sc.Name)
			}
		}
	default:
		return usagef("bench: --generator %q: use %s or %s", *generator, bench.GeneratorSim, bench.GeneratorExternal)
	}
	for _, sc := range scs {
		if sc.Name == "mixed" && *nodes < 2 {
			return usagef("bench: the mixed scenario is charging over several nodes: add --nodes 2 or more")
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	rep, err := bench.Run(ctx, bench.Options{Exe: exe, Scenarios: scs, DB: *db, Window: *window,
		PerWorker: *perWorker, Ceiling: *ceiling && *nodes == 0, Nodes: *nodes, NATS: *natsURL, RampTimeout: *ramp, CommandRate: commandRate(*cmdRate), TLS: *useTLS, ProfileDir: *profile, ServerExe: *serverExe, ServerArgs: serverArgs, Generator: *generator, Repeat: *repeat, Progress: stderr})
	if rep != nil {
		fmt.Fprintln(stdout)
		rep.WriteTable(stdout)
		if *jsonOut != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return err
}

// commandRate is --command-rate for bench.Options: 0 sends none.
func commandRate(r float64) float64 {
	if r == 0 {
		return -1
	}
	return r
}

func parseScenarios(s string, meter time.Duration) ([]bench.Scenario, error) {
	var out []bench.Scenario
	for _, part := range strings.Split(s, ",") {
		name, rest, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("--scenarios: %q is not NAME:CHARGERS", part)
		}
		count, interval, _ := strings.Cut(rest, "@")
		n, err := strconv.Atoi(count)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--scenarios: %q: chargers must be a positive number", part)
		}
		sc := bench.Scenario{Name: name, Chargers: n}
		// NAME-201 runs NAME with OCPP 2.0.1 stations (the worker reads
		// the suffix): TransactionEvent Updated instead of MeterValues.
		switch strings.TrimSuffix(name, "-201") {
		case "idle", "saturation":
		case "charging", "mixed":
			sc.MeterInterval = meter
		case "paced":
			sc.Interval = time.Second
			if interval != "" {
				if sc.Interval, err = time.ParseDuration(interval); err != nil {
					return nil, fmt.Errorf("--scenarios: %q: %w", part, err)
				}
			}
		default:
			return nil, fmt.Errorf("--scenarios: unknown scenario %q; use idle, charging, saturation, paced or (with --nodes) mixed (NAME-201 for OCPP 2.0.1 stations)", name)
		}
		out = append(out, sc)
	}
	return out, nil
}

func runBenchWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return bench.Worker(ctx, args, os.Stdin, stdout, stderr)
}

func runBenchEcho(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return bench.Echo(ctx, args, stdout, stderr)
}
