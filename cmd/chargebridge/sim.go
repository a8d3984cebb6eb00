package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chargebridge/chargebridge/internal/sim"
)

// rangeFlag is a duration range flag: "30s-2m", or one duration.
type rangeFlag struct{ r *sim.DurationRange }

func (f rangeFlag) String() string {
	if f.r == nil {
		return ""
	}
	if f.r.Min == f.r.Max {
		return f.r.Min.String()
	}
	return f.r.Min.String() + "-" + f.r.Max.String()
}

// TypeName is the help's placeholder.
func (rangeFlag) TypeName() string { return "range" }

func (f rangeFlag) Set(s string) error {
	lo, hi, isRange := strings.Cut(s, "-")
	min, err := time.ParseDuration(strings.TrimSpace(lo))
	max := min
	if err == nil && isRange {
		max, err = time.ParseDuration(strings.TrimSpace(hi))
	}
	if err != nil || min < 0 || max < min {
		return errors.New("use a duration such as 5m, or a range MIN-MAX such as 30s-2m")
	}
	*f.r = sim.DurationRange{Min: min, Max: max}
	return nil
}

// refusals prints each kind of refusal by the central system once (with
// up to three distinct reasons), with what to do about it, and counts them.
type refusals struct {
	w io.Writer

	// mu guards the fields below.
	mu      sync.Mutex
	seen    map[string]bool
	reasons map[string]int
	count   map[string]int64
}

// maxReasons is how many distinct reasons of one kind are printed.
const maxReasons = 3

func (r *refusals) add(kind, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count[kind]++
	if r.seen[kind+"\x00"+reason] {
		return
	}
	r.seen[kind+"\x00"+reason] = true
	r.reasons[kind]++
	switch {
	case r.reasons[kind] <= maxReasons:
		fmt.Fprintf(r.w, "refused (%s): %s%s\n", kind, reason, refusalHint(kind, reason))
	case r.reasons[kind] == maxReasons+1:
		fmt.Fprintf(r.w, "refused (%s): more reasons than these; -v logs every one\n", kind)
	}
}

// summary is "connect 7, start 2", or "" when nothing was refused.
func (r *refusals) summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	kinds := make([]string, 0, len(r.count))
	for k := range r.count {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, r.count[k])
	}
	return strings.Join(parts, ", ")
}

// refusalHint says what to do about a refusal, when it is clear.
func refusalHint(kind, reason string) string {
	switch {
	case kind == "connect" && strings.Contains(reason, "HTTP 404"):
		return " — the charger ids are not registered: add --register (with --api-token if the server has one), or chargebridge chargers add ID, or run serve with --auto-register"
	case kind == "connect" && strings.Contains(reason, "HTTP 401"):
		return " — the server wants charger credentials (its security profile): see chargebridge chargers security -h"
	case kind == "connect" && strings.HasPrefix(reason, "cannot connect"):
		return " — is the central system running at --url?"
	case (kind == "authorize" || kind == "start") && strings.HasSuffix(reason, "ConcurrentTx"):
		return " — the id tag is in use on another connector: give more id tags than connectors (--tags)"
	case (kind == "authorize" || kind == "start") && (strings.HasSuffix(reason, "Invalid") || strings.HasSuffix(reason, "Expired") || strings.HasSuffix(reason, "Blocked")):
		return " — the id tags are not known to the server: add --register, or chargebridge tags add TAG, or run serve with --accept-unknown-tags"
	case kind == "boot":
		return " — the central system does not accept these chargers (yet); it says when to boot again"
	}
	return ""
}

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim", "[flags]", "Runs simulated OCPP 1.6J chargers against a central system (chargebridge or another) and prints progress every 5 s. "+
		"Each refusal by the central system (connection, boot, id tag, CALLERROR) is printed once with its reason. "+
		"Against a chargebridge, --register first registers the chargers and id tags through its operator API.", stdout)
	wsURL := fs.String("url", "ws://127.0.0.1:8080/ocpp", "central system's OCPP base URL; chargers connect to URL/{id}. "+
		"Several, separated by commas, are the nodes of a cluster: each charger starts at one and moves to the next when it cannot connect")
	n := fs.Int("chargers", 1, "number of simulated chargers")
	protocol := fs.String("ocpp", "1.6", "OCPP version the chargers speak: 1.6 or 2.0.1")
	k := fs.Int("connectors", 2, "connectors per charger")
	prefix := fs.String("prefix", "SIM-", "charger id prefix (ids are PREFIX00001, …)")
	tags := fs.String("tags", "", "comma-separated id tags the drivers present (default: two RFID-like card ids per connector, at most 2000; --register registers them)")
	idle := sim.DurationRange{Min: 10 * time.Second, Max: time.Minute}
	fs.Var(rangeFlag{&idle}, "idle", "how long a connector stays free between sessions: a duration or a range MIN-MAX")
	session := sim.DurationRange{Min: time.Minute, Max: 5 * time.Minute}
	fs.Var(rangeFlag{&session}, "session", "how long a session lasts at most (it ends sooner once the battery is full): a duration or a range MIN-MAX")
	meter := fs.Duration("meter-interval", time.Minute, "MeterValues interval")
	scale := fs.Float64("time-scale", 1, "battery speed-up: one second charges like this many")
	duration := fs.Duration("duration", 0, "stop after this long (0 runs until Ctrl-C)")
	register := fs.Bool("register", false, "first register the chargers and the id tags with the chargebridge at --url through its operator API (--api-token when it has a login)")
	client := apiFlags(fs)
	fs.Lookup("server").Usage = "with --register: the chargebridge server URL (default: --url's host over http)"
	fs.Lookup("ca").Usage = "CA certificate (PEM) that signs the central system's TLS certificate, for wss:// URLs (and --register over https)"
	drop := fs.Float64("fault-drop", 0, "probability a session's connection drops mid-transaction")
	offline := fs.Float64("fault-offline", 0, "probability a charger goes offline during a session")
	retry := fs.Float64("fault-retry-start", 0, "probability a StartTransaction is sent twice")
	naive := fs.Float64("fault-naive-timestamps", 0, "probability a message's timestamps lack a zone")
	malformed := fs.Float64("fault-malformed", 0, "probability a heartbeat is sent as a malformed frame")
	reboot := fs.Float64("fault-reboot", 0, "probability a charger reboots mid-transaction without StopTransaction")
	verbose := fs.Bool("v", false, "log every charger's activity")
	password := fs.String("password", "", "Basic-auth password of every charger (security profiles 1 and 2; default $CHARGEBRIDGE_SIM_PASSWORD)")
	certFile := fs.String("cert", "", "client certificate (PEM) for security profile 3")
	keyFile := fs.String("key", "", "private key (PEM) of --cert")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if *password == "" {
		*password = os.Getenv("CHARGEBRIDGE_SIM_PASSWORD")
	}
	tlsCfg, err := sim.LoadTLS(fs.Lookup("ca").Value.String(), *certFile, *keyFile)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("sim: unexpected argument %q (chargebridge sim -h lists the flags)", pos[0])
	}
	idTags := simTags(min(*n**k*2, 2000))
	if *tags != "" {
		idTags = nil
		for _, t := range strings.Split(*tags, ",") {
			if t = strings.TrimSpace(t); t != "" {
				idTags = append(idTags, t)
			}
		}
		if len(idTags) == 0 {
			return usagef("--tags %q: give comma-separated id tags, e.g. --tags CARD-1,CARD-2", *tags)
		}
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	refused := &refusals{w: stderr, seen: map[string]bool{}, reasons: map[string]int{}, count: map[string]int64{}}
	fleet, err := sim.NewFleet(sim.Config{
		URL: *wsURL, Protocol: *protocol, Password: *password, TLS: tlsCfg, IDPrefix: *prefix, Connectors: *k, MeterInterval: *meter, TimeScale: *scale, Logger: log,
		IDTags: idTags, IdleTime: idle, SessionLength: session, OnRefusal: refused.add,
		Faults: sim.Faults{DropConnection: *drop, GoOffline: *offline, RetryStart: *retry, NaiveTimestamps: *naive,
			MalformedFrame: *malformed, RebootMidTransaction: *reboot},
	}, *n)
	if err != nil {
		return err
	}
	if *register {
		c := client()
		if fs.Lookup("server").Value.String() == "" {
			base, err := httpBase(strings.Split(*wsURL, ",")[0])
			if err != nil {
				return err
			}
			c.base = base
		}
		if err := registerFleet(ctx, c, fleet, idTags, stdout); err != nil {
			return err
		}
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	done := make(chan error, 1)
	go func() { done <- fleet.Run(ctx) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			st := fleet.Stats()
			fmt.Fprintf(stdout, "done: %d sessions started, %d completed (charged), %.1f kWh, %d calls, %d errors\n",
				st.SessionsStarted, st.SessionsCompleted, st.EnergyKWh, st.CallsSent, st.Errors)
			if s := refused.summary(); s != "" {
				fmt.Fprintf(stdout, "refused: %s\n", s)
			}
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return err
		case <-tick.C:
			st := fleet.Stats()
			fmt.Fprintf(stdout, "connected %d/%d · sessions started %d, completed %d · %.1f kWh · calls %d · errors %d\n",
				st.Connected, *n, st.SessionsStarted, st.SessionsCompleted, st.EnergyKWh, st.CallsSent, st.Errors)
		}
	}
}

// httpBase is the operator API's base URL of a chargebridge whose OCPP
// URL is wsURL: same host, http for ws, https for wss.
func httpBase(wsURL string) (string, error) {
	u, err := url.Parse(wsURL)
	if err != nil || u.Host == "" {
		return "", usagef("--url %q: use ws://HOST:PORT/ocpp", wsURL)
	}
	scheme := "http"
	if u.Scheme == "wss" {
		scheme = "https"
	}
	return scheme + "://" + u.Host, nil
}

// registerFleet registers the fleet's chargers (one already registered is
// fine) and the id tags (stored as Accepted) through the operator API.
func registerFleet(ctx context.Context, c *apiClient, fleet *sim.Fleet, tags []string, stdout io.Writer) error {
	added, had := 0, 0
	for _, ch := range fleet.Chargers() {
		err := c.do(ctx, http.MethodPost, "/api/v1/chargers", map[string]any{"id": ch.ID()}, nil)
		var ae *apiError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusConflict:
			had++
		case err != nil:
			return fmt.Errorf("--register: charger %s: %w", ch.ID(), err)
		default:
			added++
		}
	}
	for _, t := range tags {
		if err := c.do(ctx, http.MethodPost, "/api/v1/tags", map[string]any{"id_tag": t}, nil); err != nil {
			return fmt.Errorf("--register: id tag %s: %w", t, err)
		}
	}
	fmt.Fprintf(stdout, "registered at %s: chargers %d new, %d already registered; id tags %d\n", c.base, added, had, len(tags))
	return nil
}

// simTags makes n RFID-like card ids (7-byte UIDs in hex), enough that two
// drivers rarely hold the same card (a card in use is refused with
// ConcurrentTx, as it should be).
func simTags(n int) []string {
	tags := make([]string, max(n, 1))
	for i := range tags {
		tags[i] = fmt.Sprintf("04C8%010X", i+1)
	}
	return tags
}
