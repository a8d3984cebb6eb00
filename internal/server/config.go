package server

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/pricing"
)

// Config is chargebridge's one configuration: every field is a flag, an
// environment variable CHARGEBRIDGE_<FLAG> and a key of the --config file,
// in that order of precedence.
type Config struct {
	HTTP              string
	DB                string
	PublicURL         string
	AutoRegister      bool
	AcceptUnknownTags bool
	HeartbeatInterval time.Duration
	PingInterval      time.Duration
	CallTimeout       time.Duration
	RefuseDuplicates  bool
	MaxHandshakes     int
	LogLevel          string
	LogFormat         string
	// APIToken protects the dashboard and the operator API; empty leaves
	// them open, which Validate allows on a loopback address only.
	APIToken string
	// RemoteStartTimeout closes a pending session whose remote start the
	// charger accepted but never followed with a StartTransaction.
	RemoteStartTimeout time.Duration
	// Pprof serves the Go profiler at /debug/pprof/ (for profiling only).
	Pprof bool
	// OCPICountry and OCPIParty are our OCPI identity (ISO 3166 alpha-2
	// country code, 3-character party id).
	OCPICountry string
	OCPIParty   string
	// TimeZone is the IANA zone of chargers whose location names none:
	// tariff restrictions on time of day, date and weekday use it.
	TimeZone string
	// Beckn configures the Beckn BPP (beckn.go); off without a key file.
	Beckn BecknConfig
	// Security is TLS and the chargers' security profiles (security.go).
	Security SecurityConfig
	// NATS, when set, makes this node one of a cluster: nodes sharing one
	// PostgreSQL database meet through this NATS server (JetStream on) to
	// know which node holds which charger and to forward commands
	// (cluster.go). NodeID names the node (default hostname-pid);
	// ClusterName the cluster (default "cb"), so that several clusters may
	// share one NATS server.
	NATS        string
	NodeID      string
	ClusterName string
}

// DefaultDB is the embedded database a server creates on first start.
const DefaultDB = "sqlite:chargebridge.db"

// Bind registers the configuration flags on fs.
func (c *Config) Bind(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTP, "http", "127.0.0.1:8080", "address of the HTTP listener (OCPP, OCPI, Beckn, API, dashboard)")
	fs.StringVar(&c.DB, "db", DefaultDB, "database: sqlite:PATH (embedded, created on first start) or postgres://…")
	fs.StringVar(&c.PublicURL, "public-url", "", "base URL peers reach this server at (default http://<--http>)")
	fs.BoolVar(&c.AutoRegister, "auto-register", false, "admit unknown chargers, registering them on first connection")
	fs.BoolVar(&c.AcceptUnknownTags, "accept-unknown-tags", false, "authorize id tags that are not registered (free vend)")
	fs.DurationVar(&c.HeartbeatInterval, "heartbeat-interval", 5*time.Minute, "heartbeat interval given to chargers at boot")
	fs.DurationVar(&c.PingInterval, "ping-interval", 60*time.Second, "WebSocket ping interval; a charger silent for twice this is disconnected (0 disables)")
	fs.DurationVar(&c.CallTimeout, "call-timeout", 30*time.Second, "how long a command to a charger waits for its answer")
	fs.IntVar(&c.MaxHandshakes, "max-handshakes", 0, "connection attempts worked on at once (authentication to registration); more wait up to 5s, then are told to retry later (503, Retry-After 5-15s); 0: no bound (see BENCHMARKS.md: 64 slowed the 100 000-charger ramp)")
	fs.BoolVar(&c.RefuseDuplicates, "refuse-duplicates", false, "refuse a second connection with a connected charger's id instead of replacing the first")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&c.RemoteStartTimeout, "remote-start-timeout", 2*time.Minute, "close a remote start the charger accepted but never followed with a StartTransaction after this long")
	fs.StringVar(&c.OCPICountry, "ocpi-country", "NL", "our OCPI country code (ISO 3166 alpha-2); set it to your own")
	fs.StringVar(&c.OCPIParty, "ocpi-party", "CBR", "our OCPI party id (3 characters); set it to your own")
	fs.StringVar(&c.TimeZone, "time-zone", "UTC", "time zone (IANA, e.g. Europe/Amsterdam) of chargers whose location sets none; tariffs' time-of-day restrictions use it")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve the Go profiler at /debug/pprof/ (profiling only; never on a public address)")
	fs.StringVar(&c.NATS, "nats", "", "NATS server URL (nats://HOST:4222, JetStream on): nodes sharing one PostgreSQL --db form a cluster through it; empty runs this node alone")
	fs.StringVar(&c.NodeID, "node-id", "", "this node's id in a cluster: letters, digits, - and _ (default hostname-pid)")
	fs.StringVar(&c.ClusterName, "cluster-name", "", "the cluster's name, the same on each of its nodes: its NATS buckets, stream and subjects start with it, so clusters (staging, production) may share one NATS server (default cb)")
	c.Beckn.bind(fs)
	c.Security.bind(fs)
	fs.StringVar(&c.APIToken, "api-token", "", "token that protects the dashboard (login form) and the operator API (Authorization: Bearer TOKEN); required unless --http is a loopback address (prefer CHARGEBRIDGE_API_TOKEN: flags show in ps)")
}

// StoreFlags are the flags of a command that only opens the database
// (chargers add, tags list, migrate, …): the database and the logging.
var StoreFlags = []string{"db", "log-level", "log-format"}

// BindFlags registers the named configuration flags on fs, or all of them
// when none are named; every field of c gets its default either way. A
// duration flag given a bare number says how to write a duration.
func (c *Config) BindFlags(fs *flag.FlagSet, names ...string) {
	all := flag.NewFlagSet("config", flag.ContinueOnError)
	c.Bind(all)
	add := func(f *flag.Flag) {
		v := f.Value
		if IsDuration(f) {
			v = durationValue{v}
		}
		fs.Var(v, f.Name, f.Usage)
		fs.Lookup(f.Name).DefValue = f.DefValue
	}
	if len(names) == 0 {
		all.VisitAll(add)
		return
	}
	for _, n := range names {
		f := all.Lookup(n)
		if f == nil {
			panic("server: BindFlags: no configuration flag " + n)
		}
		add(f)
	}
}

// IsDuration reports whether f takes a time.Duration.
func IsDuration(f *flag.Flag) bool {
	if _, ok := f.Value.(durationValue); ok {
		return true
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	_, ok = g.Get().(time.Duration)
	return ok
}

// durationValue is a duration flag whose error says how to write one.
type durationValue struct{ flag.Value }

func (d durationValue) Set(s string) error {
	if err := d.Value.Set(s); err != nil {
		return errors.New("use a duration such as 5m or 300s")
	}
	return nil
}

func (d durationValue) Get() any { return d.Value.(flag.Getter).Get() }

// Load fills the flags not given on the command line from the environment
// and then from the config file (a JSON object keyed by flag name, where a
// number given for a duration is seconds). Keys of flags that fs lacks but
// the configuration has are ignored, so one file serves serve and the
// commands that only open the database.
func Load(fs *flag.FlagSet, configFile string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var file map[string]any
	if configFile != "" {
		b, err := os.ReadFile(configFile)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if err := json.Unmarshal(b, &file); err != nil {
			return fmt.Errorf("config file %s is not a JSON object of flag names to values: %w", configFile, err)
		}
		known := flag.NewFlagSet("config", flag.ContinueOnError)
		new(Config).Bind(known)
		for k := range file {
			if fs.Lookup(k) == nil && known.Lookup(k) == nil && k != "config" {
				return fmt.Errorf("config file %s: unknown key %q (keys are flag names, e.g. \"http\", \"db\")", configFile, k)
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == "config" {
			return
		}
		env := "CHARGEBRIDGE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			s := fmt.Sprint(v)
			if n, isNum := v.(float64); isNum && IsDuration(f) {
				s = time.Duration(n * float64(time.Second)).String()
			}
			if err := f.Value.Set(s); err != nil {
				errs = append(errs, fmt.Errorf("config key %q=%q: %w", f.Name, s, err))
			}
		}
	})
	return errors.Join(errs...)
}

// ValidateStore checks what a command that only opens the database needs
// (chargers add, migrate, tariffs add, …): the database and the logging.
// The listener's rules (a login off loopback, Beckn keys) are Validate's:
// such a command listens nowhere.
func (c *Config) ValidateStore() error {
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %q: use text or json", c.LogFormat)
	}
	if !strings.HasPrefix(c.DB, "sqlite:") && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		return fmt.Errorf("--db %q: use sqlite:PATH or postgres://USER@HOST/DB", c.DB)
	}
	return nil
}

// Validate checks the configuration and says how to fix what is wrong.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
		return fmt.Errorf("--http %q is not HOST:PORT (e.g. 127.0.0.1:8080)", c.HTTP)
	}
	if c.MaxHandshakes < 0 {
		return fmt.Errorf("--max-handshakes %d: use 0 (no bound) or more", c.MaxHandshakes)
	}
	if c.HeartbeatInterval < time.Second {
		return fmt.Errorf("--heartbeat-interval %s is too short; use at least 1s", c.HeartbeatInterval)
	}
	if err := c.ValidateStore(); err != nil {
		return err
	}
	if (c.OCPICountry != "" && len(c.OCPICountry) != 2) || (c.OCPIParty != "" && len(c.OCPIParty) != 3) {
		return fmt.Errorf("--ocpi-country %q / --ocpi-party %q: use a two-letter country code and a three-character party id, e.g. --ocpi-country NL --ocpi-party ABC", c.OCPICountry, c.OCPIParty)
	}
	if c.TimeZone != "" {
		if _, err := pricing.LoadZone(c.TimeZone); err != nil {
			return fmt.Errorf("--time-zone: %w", err)
		}
	}
	if err := c.validateCluster(); err != nil {
		return err
	}
	if err := c.Beckn.validate(); err != nil {
		return err
	}
	if err := c.Security.validate(); err != nil {
		return err
	}
	if c.APIToken == "" && !isLoopback(c.HTTP) {
		return fmt.Errorf("--http %s is reachable from other machines, so the dashboard and operator API need a login: set --api-token TOKEN or CHARGEBRIDGE_API_TOKEN (e.g. $(openssl rand -hex 16)), or listen on 127.0.0.1", c.HTTP)
	}
	if c.APIToken != "" && (len(c.APIToken) < MinAPITokenLen || strings.ContainsAny(c.APIToken, " \t\r\n")) {
		return fmt.Errorf("--api-token must be at least %d characters without spaces (e.g. $(openssl rand -hex 16))", MinAPITokenLen)
	}
	return nil
}

// MinAPITokenLen is the shortest --api-token accepted.
const MinAPITokenLen = 16

// isLoopback reports whether a HOST:PORT listens on this machine only: an
// IP loopback address or "localhost". An empty host listens everywhere.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
