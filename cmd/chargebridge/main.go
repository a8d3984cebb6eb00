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
	"sort"
	"syscall"

	"github.com/chargebridge/chargebridge/internal/server"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"serve": {"run the central system", runServe},
		"demo":  {"run the central system with a simulated fleet on a temporary database", runDemo},
		"sim":   {"run simulated OCPP 1.6J chargers against a central system", runSim},
		"bench": {"measure a server under simulated load (chargers held, calls/s, latency, memory)", runBench},
		// Internal: the processes bench starts.
		"bench-worker": {"", runBenchWorker},
		"bench-echo":   {"", runBenchEcho},
		"migrate":      {"apply database migrations and exit", runMigrate},
		"version":      {"print the version", runVersion},
		"chargers":     {"register and list chargers (add ID | list)", runChargers},
		"cmd":          {"send a command to a charger (cmd CP-1 remote-start --tag ABC; cmd CP-1 reset --hard; …)", runCmd},
		"tags":         {"register and list id tags (add TAG | list)", runTags},
		"beckn":        {"Beckn BPP signing keys (beckn keys --out FILE prints signing_public_key)", runBeckn},
		"ocpi":         {"OCPI parties: issue token A, register with a party, list, unregister (ocpi parties add --country NL --party ABC)", runOCPI},
		"tariffs":      {"OCPI tariffs: add FILE.json | list | assign --charger ID [--connector N] --tariff T | delete ID | price --tariff T.json --cdr C.json", runTariffs},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "chargebridge:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout, cmds)
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(stderr, cmds)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: chargebridge COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if cmds[n].summary == "" {
			continue
		}
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun `chargebridge COMMAND -h` for a command's flags.")
}

// configFlags makes a flag set with the shared configuration flags.
func configFlags(name string, stderr io.Writer) (*flag.FlagSet, *server.Config, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &server.Config{}
	cfg.Bind(fs)
	configFile := fs.String("config", "", "configuration file: a JSON object keyed by flag name")
	return fs, cfg, configFile
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (`chargers add CP-1 --db …`), which the flag package
// alone stops at; the positionals are returned in order.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// parseConfig parses args (flags before or after positionals, which are
// left in fs.Args()) and fills the rest from environment and file.
func parseConfig(fs *flag.FlagSet, configFile *string, args []string) error {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	// Re-parse so fs.Args() holds just the positionals for the caller.
	if err := fs.Parse(append([]string{"--"}, pos...)); err != nil {
		return err
	}
	if *configFile == "" {
		*configFile = os.Getenv("CHARGEBRIDGE_CONFIG")
	}
	return server.Load(fs, *configFile)
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
