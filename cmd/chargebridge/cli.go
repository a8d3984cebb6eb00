package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/chargebridge/chargebridge/internal/server"
)

// command is one subcommand: a leaf that runs, or a group (chargers,
// tags, …) whose sub holds its subcommands. A summary of "" hides the
// command from the help (the processes bench starts).
//
// A leaf parses its own flags with newFlags, which gives every command the
// same help (-h, --help: exit 0, this command's flags only) and one-line
// errors.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	sub     map[string]command
}

// usageError is a command line that cannot run as given; main exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// usagef returns a usageError.
func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// dispatch runs the command args name, below path ("chargebridge chargers").
func dispatch(ctx context.Context, path string, c command, args []string, stdout, stderr io.Writer) error {
	if c.sub == nil {
		return c.run(ctx, args, stdout, stderr)
	}
	name := strings.TrimPrefix(strings.TrimPrefix(path, "chargebridge"), " ")
	what := name + ": give a subcommand"
	if name == "" {
		what = "give a command"
	}
	if len(args) == 0 {
		groupUsage(stderr, path, c)
		return usagef("%s (%s -h lists them)", what, path)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		groupUsage(stdout, path, c)
		return flag.ErrHelp
	}
	sub, ok := c.sub[args[0]]
	if !ok {
		if name == "" {
			return usagef("unknown command %q; use %s (%s -h lists them)", args[0], strings.Join(visible(c.sub), ", "), path)
		}
		return usagef("%s: unknown subcommand %q; use %s (%s -h lists them)", name, args[0], strings.Join(visible(c.sub), ", "), path)
	}
	return dispatch(ctx, path+" "+args[0], sub, args[1:], stdout, stderr)
}

// visible lists the names of the commands shown in help, sorted.
func visible(cmds map[string]command) []string {
	var names []string
	for n, c := range cmds {
		if c.summary != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func groupUsage(w io.Writer, path string, c command) {
	fmt.Fprintf(w, "usage: %s COMMAND [flags]\n", path)
	if c.summary != "" && path != "chargebridge" {
		fmt.Fprintf(w, "\n%s\n", c.summary)
	}
	fmt.Fprintln(w, "\ncommands:")
	names := visible(c.sub)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, c.sub[n].summary)
	}
	fmt.Fprintf(w, "\nRun `%s COMMAND -h` for a command's flags.\n", path)
}

// flags is one leaf command's flag set and help.
type flags struct {
	*flag.FlagSet
	// path is the command ("chargers add"), synopsis its arguments ("ID
	// [flags]"), about a sentence or more on what it does.
	path, synopsis, about string
	stdout                io.Writer
	// cfg and configFile are set by storeConfig and serverConfig.
	cfg        *server.Config
	configFile *string
}

// newFlags makes the flag set of the leaf command path. Its help goes to
// stdout; the flag package prints nothing itself.
func newFlags(path, synopsis, about string, stdout io.Writer) *flags {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flags{FlagSet: fs, path: path, synopsis: synopsis, about: about, stdout: stdout}
}

// storeConfig adds the flags of a command that only opens the database:
// --db, logging and --config.
func (f *flags) storeConfig() *server.Config { return f.config(server.StoreFlags...) }

// serverConfig adds every configuration flag (the server's) and --config.
func (f *flags) serverConfig() *server.Config { return f.config() }

// config adds the named configuration flags and --config; the environment
// and the config file fill them in parse.
func (f *flags) config(names ...string) *server.Config {
	f.cfg = &server.Config{}
	f.cfg.BindFlags(f.FlagSet, names...)
	f.configFile = f.String("config", "", "configuration file: a JSON object keyed by flag name (durations as strings such as \"5m\" or as numbers of seconds)")
	return f.cfg
}

// parse parses args, whose flags may come before or after the positional
// arguments, which it returns. With a configuration, it then fills what
// the command line left from the environment and the config file. -h
// prints the help and returns flag.ErrHelp.
func (f *flags) parse(args []string) ([]string, error) {
	pos, err := parseInterspersed(f.FlagSet, args)
	if errors.Is(err, flag.ErrHelp) {
		f.printUsage(f.stdout)
		return nil, err
	}
	if err != nil {
		return nil, usagef("%s: %s (chargebridge %s -h lists the flags)", f.path, flagError(err), f.path)
	}
	if f.cfg != nil {
		if *f.configFile == "" {
			*f.configFile = os.Getenv("CHARGEBRIDGE_CONFIG")
		}
		if err := server.Load(f.FlagSet, *f.configFile); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// invalidValue is the flag package's message for a value a flag refused.
var invalidValue = regexp.MustCompile(`^invalid value ("(?:[^"\\]|\\.)*") for flag -([^:]+): `)

// flagError rewrites the flag package's messages with the double dash
// the help shows: `--heartbeat-interval "5": use a duration such as …`.
func flagError(err error) string {
	msg := err.Error()
	if m := invalidValue.FindStringSubmatch(msg); m != nil {
		return "--" + m[2] + " " + m[1] + ": " + msg[len(m[0]):]
	}
	for _, p := range []string{"flag provided but not defined: -", "for flag -", "flag needs an argument: -"} {
		msg = strings.Replace(msg, p, p+"-", 1)
	}
	return msg
}

// printUsage writes the help: usage line, what the command does, flags.
func (f *flags) printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: chargebridge %s %s\n", f.path, f.synopsis)
	if f.about != "" {
		fmt.Fprintf(w, "\n%s\n", f.about)
	}
	var list []*flag.Flag
	f.VisitAll(func(fl *flag.Flag) { list = append(list, fl) })
	if len(list) == 0 {
		return
	}
	fmt.Fprintln(w, "\nflags:")
	for _, fl := range list {
		name := "--" + fl.Name
		if t := typeName(fl); t != "" {
			name += " " + t
		}
		fmt.Fprintf(w, "  %s\n    \t%s", name, fl.Usage)
		if !isZeroDefault(fl) {
			if typeName(fl) == "string" {
				fmt.Fprintf(w, " (default %q)", fl.DefValue)
			} else {
				fmt.Fprintf(w, " (default %s)", fl.DefValue)
			}
		}
		fmt.Fprintln(w)
	}
	if f.cfg != nil {
		fmt.Fprintln(w, "\nEvery flag is also CHARGEBRIDGE_<FLAG> in the environment (e.g. CHARGEBRIDGE_DB) and a key of the --config file.")
	}
}

// typeName is the placeholder shown after a flag's name; "" for a switch.
func typeName(fl *flag.Flag) string {
	if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return ""
	}
	if server.IsDuration(fl) {
		return "duration"
	}
	if n, ok := fl.Value.(interface{ TypeName() string }); ok {
		return n.TypeName()
	}
	if g, ok := fl.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case string:
			return "string"
		case int, int64, uint, uint64:
			return "int"
		case float64:
			return "float"
		}
	}
	return "value"
}

// isZeroDefault reports whether a flag's default is its type's zero value,
// which the help does not show.
func isZeroDefault(fl *flag.Flag) bool {
	switch fl.DefValue {
	case "", "0", "false", "0s", "[]":
		return true
	}
	// A value type's own zero, for flag.Value implementations.
	t := reflect.TypeOf(fl.Value)
	if t.Kind() == reflect.Pointer {
		z, ok := reflect.New(t.Elem()).Interface().(flag.Value)
		return ok && z.String() == fl.DefValue
	}
	return false
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (`chargers add CP-1 --db …`), which the flag package
// alone stops at; the positionals are returned in order. "--" ends the
// flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse stopped at a positional, or after "--": everything after
		// "--" is positional.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
