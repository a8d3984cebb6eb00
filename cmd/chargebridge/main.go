// Command chargebridge is a charging-station management system: an OCPP
// central system whose sessions are also published over OCPI and Beckn.
//
// Run `chargebridge help` for its subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/chargebridge/chargebridge/internal/server"
)

// commands is chargebridge's command tree. A group (chargers, tags, …)
// lists its subcommands in sub; a part that adds commands adds an entry
// here or in its group's map (see cli.go).
func commands() map[string]command {
	return map[string]command{
		"serve": {summary: "run the central system", run: runServe},
		"demo":  {summary: "run the central system with a simulated fleet on a temporary database", run: runDemo},
		"sim":   {summary: "run simulated OCPP 1.6J chargers against a central system", run: runSim},
		"bench": {summary: "measure a server under simulated load (chargers held, calls/s, latency, memory)", run: runBench},
		// Internal: the processes bench starts.
		"bench-worker": {run: runBenchWorker},
		"bench-echo":   {run: runBenchEcho},
		"migrate":      {summary: "apply database migrations and exit", run: runMigrate},
		"version":      {summary: "print the version", run: runVersion},
		"chargers":     {summary: "register, list and delete chargers", sub: chargersCommands()},
		"cmd":          {summary: "send a command to a charger through the running server (cmd CP-1 reset --hard; --api-token T when it has a login)", run: runCmd},
		"tags":         {summary: "register, list and delete id tags", sub: tagsCommands()},
		"beckn":        {summary: "Beckn BPP signing keys", sub: map[string]command{"keys": {summary: "create the BPP's signing key file and print signing_public_key", run: runBecknKeys}}},
		"ocpi":         {summary: "OCPI parties: issue token A, register with a party, list, unregister", sub: ocpiCommands()},
		"ca":           {summary: "operator certificate authority for TLS and chargers' client certificates", sub: caCommands()},
		"tariffs":      {summary: "OCPI tariffs: add, list, assign to chargers, delete, price a CDR", sub: tariffsCommands()},
		"sites":        {summary: "sites: chargers behind one grid connection, kept under its limit (set, list, show, delete)", sub: sitesCommands()},
		"cluster":      {summary: "list the nodes that serve the fleet and the chargers each holds (through the running server)", run: runCluster},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode prints err in one line and says how the process ends: 0 for
// success and help, 2 for a command line that cannot run, 1 otherwise.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "chargebridge:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "chargebridge", command{sub: commands()}, args, stdout, stderr)
}

func newLogger(cfg *server.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if _, err := newFlags("version", "", "Prints the version (and the commit it was built from).", stdout).parse(args); err != nil {
		return err
	}
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	fmt.Fprintln(stdout, "chargebridge", v)
	return nil
}
