// Package server wires chargebridge together: the store, the session core,
// the OCPP server and the HTTP routes of every interface, and shuts them down
// in order. serve, demo and the end-to-end tests all run this one wiring.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/beckn"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/cluster"
	"github.com/chargebridge/chargebridge/internal/loadmgmt"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp16"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp201"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/security"
	"github.com/chargebridge/chargebridge/internal/store/postgres"
	"github.com/chargebridge/chargebridge/internal/web"
)

// Store is a charging.Store that can be closed.
type Store interface {
	charging.Store
	Close() error
}

// Server is a running chargebridge.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store Store
	svc   *charging.Service
	ocpp  *ocpp.Server
	http  *http.Server
	// frames is the per-charger OCPP message log the dashboard switches.
	frames *ocpp.FrameLog
	mux    *routeMux
	auth   *web.Auth
	web    *web.Dashboard
	cmd    *ocpp16.Commander
	// commands is the core's command port (routed by protocol; in a
	// cluster, by node first: cluster.go).
	commands charging.Commands
	cluster  clusterPart
	// clusterEvents is the JetStream event port with --nats (events.go).
	clusterEvents *cluster.Events
	// ocpi is the OCPI CPO role; nil when the store keeps no documents.
	ocpi *ocpi.CPO
	// beckn is the Beckn BPP (beckn.go); nil when it is off.
	beckn *beckn.BPP
	// guard enforces the chargers' security profiles (security.go); tls
	// is the listener's TLS configuration (nil: plain), certs its
	// reloading certificate.
	guard *security.Guard
	tls   *tls.Config
	certs *security.CertReloader
	// limiter bounds the listener's connections; payloads bounds the
	// free-form payloads chargers make us store; pruned counts the
	// events retention deleted.
	limiter  *security.Limiter
	payloads *security.Budget
	pruned   atomic.Int64
	// ca is the built-in CA (nil without --ca-cert); its CertificateSigned
	// sends are afterCalls.
	ca *security.CA
	// catalog and pricer price sessions (pricing.go); nil when the store
	// keeps no documents.
	catalog *pricing.Catalog
	pricer  *pricing.Pricer
	// load manages the sites' power (sites.go); nil when the store keeps
	// no documents.
	load *loadmgmt.Manager
	// limitCaps learns how each protocol's chargers take limits.
	limitCaps map[string]*ocpp16.LimitCaps
	// loadStatuses sends the site statuses of the node that runs load
	// management to the others (a cluster only).
	loadStatuses *statusAnnouncer

	// after owns the sends that follow a charger's call (aftercalls.go).
	after *afterCalls
	// group runs the background components (Start); stopFirst and
	// stopLate end its two stages; failed is closed when a component
	// failed.
	group     *errgroup.Group
	stopFirst context.CancelFunc
	stopLate  context.CancelFunc
	failed    <-chan struct{}

	// preLn is Options.Listener, taken by Start.
	preLn net.Listener
	// met counts for /metrics (metrics.go).
	met *metrics
	// h16 is the OCPP 1.6 handler (its violation counts go to /metrics).
	h16 *ocpp16.Handler
	// cmd201 sends raw OCPP 2.0.1 messages to 2.0.1 stations.
	cmd201 *ocpp16.Commander

	mu    sync.Mutex
	ln    net.Listener
	ready bool
}

// Options are the parts a caller may supply instead of the defaults.
type Options struct {
	// Clock defaults to the system clock.
	Clock charging.Clock
	// Store, when set, is used instead of opening cfg.DB.
	Store Store
	// OCPI, when set, adjusts the OCPI configuration (tests shorten
	// retries and intervals).
	OCPI func(*ocpi.Config)
	// Beckn, when set, adjusts the Beckn BPP's configuration (tests).
	Beckn func(*beckn.Config)
	// LoadMgmt, when set, adjusts the load manager's configuration
	// (tests shorten its intervals and watch its changes).
	LoadMgmt func(*loadmgmt.Config)
	// Listener, when set, is the listener Start serves on instead of
	// listening on cfg.HTTP: serve binds it (Listen) before the database is
	// opened, so a port in use fails before anything is created.
	Listener net.Listener
}

// New opens the store (applying migrations) and builds every part.
func New(ctx context.Context, cfg Config, log *slog.Logger, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.RemoteStartTimeout <= 0 {
		cfg.RemoteStartTimeout = 2 * time.Minute
	}
	clock := opts.Clock
	if clock == nil {
		clock = charging.SystemClock{}
	}
	met := newMetrics()
	st := opts.Store
	if st == nil {
		var err error
		if st, err = openStore(ctx, cfg.DB, log, met.observeCommit); err != nil {
			return nil, err
		}
	}
	if err := met.load(ctx, st); err != nil {
		st.Close()
		return nil, err
	}
	ccfg := charging.Config{
		HeartbeatInterval: cfg.HeartbeatInterval,
		AutoRegister:      cfg.AutoRegister,
		AcceptUnknownTags: cfg.AcceptUnknownTags,
	}
	// eMSP tokens (OCPI) authorize id tags the core does not know.
	var tokens *ocpi.TokenAuthorizer
	if full, ok := st.(charging.FullStore); ok {
		tokens = ocpi.NewTokenAuthorizer(full, log)
		ccfg.TokenAuthorizer = tokens
	}
	svc := charging.NewService(st, clock, log, ccfg)
	svc.Subscribe(met.observe)
	v, err := ocpp16.NewValidator()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("compile OCPP 1.6 schemas: %w", err)
	}
	s := &Server{cfg: cfg, log: log, store: st, svc: svc, mux: &routeMux{ServeMux: http.NewServeMux()}, preLn: opts.Listener, met: met, after: newAfterCalls()}
	if err := s.setupSecurity(clock); err != nil {
		st.Close()
		return nil, err
	}
	s.h16 = ocpp16.NewHandler(svc, v, log, ocpp16.Options{AllowPayload: s.allowPayload, SignCertificate: s.signCertificate})
	v201, err := ocpp201.NewValidator()
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("compile OCPP 2.0.1 schemas: %w", err)
	}
	h201 := ocpp201.NewHandler(svc, v201, log)
	h201.CountRejections(&s.h16.Violations().SchemaRejected)
	dup := ocpp.ReplaceExisting
	if cfg.RefuseDuplicates {
		dup = ocpp.RefuseNew
	}
	s.frames = ocpp.NewFrameLog(frameLogSize, clock.Now)
	os := ocpp.NewServer(ocpp.Config{
		Frames:        s.frames,
		MaxHandshakes: cfg.MaxHandshakes,
		// The charger's order of preference decides; 1.6 is assumed for a
		// charger that offers no subprotocol.
		Protocols: []ocpp.Protocol{
			{Name: ocpp16.Subprotocol, Handler: presenceHandler{s.h16, s}},
			{Name: ocpp201.Subprotocol, Handler: presenceHandler{h201, s}},
		},
		Admit: func(ctx context.Context, id string) (any, error) {
			if cfg.AutoRegister {
				return nil, nil // everyone, registered just after the handshake (Register)
			}
			c, err := svc.Admit(ctx, id)
			if errors.Is(err, charging.ErrNotFound) {
				return nil, fmt.Errorf("%w: %v", ocpp.ErrUnknownCharger, err)
			}
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		// With --auto-register a charger is registered after the
		// handshake, not in it: at a fleet's first connections the store
		// is the bottleneck, and handshakes that waited for it ran into
		// the chargers' connect timeouts (they gave up, dialled again,
		// and the work was done twice).
		Register: func(ctx context.Context, id string) (any, error) {
			if !cfg.AutoRegister {
				return nil, nil
			}
			c, err := svc.Admit(ctx, id)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		Authenticate: s.guard.Authenticate,
		Duplicates:   dup,
		PingInterval: cfg.PingInterval,
		PongWait:     cfg.PingInterval,
		CallTimeout:  cfg.CallTimeout,
		Log:          log,
	})
	s.ocpp = os
	var cmdLog ocpp16.CommandLog
	if _, ok := st.(charging.FullStore); ok {
		cmdLog = svc
	}
	s.cmd = ocpp16.NewCommander(os, v, log, cmdLog,
		ocpp16.CoreEffects{Svc: svc, PendingTimeout: cfg.RemoteStartTimeout}, clock.Now, charging.NewID)
	// The command port: every protocol-neutral command goes through the
	// router to the adapter of the charger's protocol.
	s.cmd201 = ocpp16.NewCommanderFor(ocpp201.CSMSActions, os, v201, log, cmdLog,
		ocpp201.Effects{Svc: svc, PendingTimeout: cfg.RemoteStartTimeout}, clock.Now, charging.NewID)
	// After a 2.0.1 station's first accepted boot, its device model.
	h201.AfterBoot(func(id string) {
		s.after.Go(2*cfg.CallTimeout+10*time.Second, func(ctx context.Context) {
			ocpp201.RequestBaseReport(ctx, svc, s.cmd201, id, log)
		})
	})
	port16 := ocpp16.NewPort(s.cmd, svc)
	s.commands = charging.NewCommandRouter(os.Protocol, map[string]charging.Commands{ocpp16.Subprotocol: port16, ocpp201.Subprotocol: ocpp201.NewPort(s.cmd201, svc, clock.Now)}, port16, svc.Store())
	s.setupLimits(clock)
	if err := s.joinCluster(ctx); err != nil {
		st.Close()
		return nil, err
	}
	built := false
	defer func() {
		if !built {
			s.leaveCluster()
		}
	}()
	if err := s.joinEvents(ctx); err != nil {
		st.Close()
		return nil, err
	}
	s.setupPricing(clock)
	s.setupLoad(clock, opts.LoadMgmt)
	if tokens != nil {
		ocfg := ocpi.Config{Party: s.cpoParty(), PublicURL: cfg.PublicURL, Node: s.cfg.NodeID, Presence: s.chargerPresence(), Pricer: s.ocpiPricer(), Catalog: s.ocpiCatalog(), Sites: s.ocpiSites(), Events: s.events()}
		if opts.OCPI != nil {
			opts.OCPI(&ocfg)
		}
		if s.ocpi, err = ocpi.New(svc, s.commands, tokens, log, ocfg); err != nil {
			st.Close()
			return nil, err
		}
	}
	if s.beckn, err = s.newBPP(clock, opts.Beckn); err != nil {
		st.Close()
		return nil, err
	}
	if err := s.routes(); err != nil {
		st.Close()
		return nil, err
	}
	s.http = s.newHTTPServer(s.withAuth(s.mux))
	// The dashboard's event streams end when shutdown starts, so that
	// draining HTTP does not wait for them.
	s.http.RegisterOnShutdown(s.web.Close)
	built = true
	return s, nil
}

// frameLogSize is how many messages the OCPP message log keeps per
// watched charger.
const frameLogSize = 200

// OpenStore opens the database a --db value names.
func OpenStore(ctx context.Context, dsn string, log *slog.Logger) (Store, error) {
	return openStore(ctx, dsn, log, nil)
}

// openStore opens the database; observe, when set, hears each commit's
// duration.
func openStore(ctx context.Context, dsn string, log *slog.Logger, observe func(time.Duration)) (Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"), observe)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, log, observe)
	}
	return nil, fmt.Errorf("--db %q: use sqlite:PATH or postgres://USER@HOST/DB", dsn)
}

// RedactDB returns a --db value safe to print: a PostgreSQL URL's password
// is hidden, in the user part and in a password= parameter.
func RedactDB(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return postgres.Redact(dsn)
	}
	return dsn
}

func (s *Server) routes() error {
	s.mux.Handle("GET /ocpp/{id}", s.ocpp)
	if s.ocpi != nil {
		s.mux.Handle("/ocpi/", s.ocpi)
	}
	s.withPricing(api.New(s.svc, s.apiPresence(), s.log).WithCommands(s.commands, s.rawSender(), s.svc).WithSites(s.sites()).WithCluster(clusterView{s})).Register(s.mux)
	s.becknRoutes()
	s.securityRoutes()
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		s.mu.Lock()
		ready := s.ready
		s.mu.Unlock()
		if !ready {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		if _, err := s.store.GetCharger(ctx, "readyz-probe"); err != nil && !errors.Is(err, charging.ErrNotFound) {
			http.Error(w, "store unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err := s.clusterReady(); err != nil {
			http.Error(w, "cluster unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ready\n"))
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry(), promhttp.HandlerOpts{}))
	if s.cfg.Pprof {
		s.mux.HandleFunc("/debug/pprof/", pprof.Index)
		s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		// An execution trace shows where a request waited (go tool trace
		// -pprof=sched or =sync), which a CPU profile does not.
		s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return s.webRoutes()
}

// Service returns the session core.
func (s *Server) Service() *charging.Service { return s.svc }

// Commander returns the 1.6 command path: raw OCPP 1.6 messages, for the
// expert endpoint and 1.6-only features.
func (s *Server) Commander() *ocpp16.Commander { return s.cmd }

// Commands returns the core's command port, the one path protocol-neutral
// commands take to chargers.
func (s *Server) Commands() charging.Commands { return s.commands }

// OCPP returns the OCPP server (to send commands, or check connections).
func (s *Server) OCPP() *ocpp.Server { return s.ocpp }

// cpoParty is the CPO's OCPI identity: the one the OCPI role pushes and
// signs CDRs with once it runs (a test may set its own), else the
// configured one (NL/CBR by default). The dashboard's and the API's session
// views show it too.
func (s *Server) cpoParty() ocpi.Party {
	if s.ocpi != nil {
		return s.ocpi.Party()
	}
	p := ocpi.Party{CountryCode: strings.ToUpper(s.cfg.OCPICountry), PartyID: strings.ToUpper(s.cfg.OCPIParty)}
	if p.CountryCode == "" {
		p.CountryCode = "NL"
	}
	if p.PartyID == "" {
		p.PartyID = "CBR"
	}
	return p
}

// OCPI returns the OCPI CPO role, or nil when the store keeps no documents.
func (s *Server) OCPI() *ocpi.CPO { return s.ocpi }

// Mux is the server's router: an http.ServeMux that remembers its
// patterns.
type Mux interface {
	Handle(pattern string, handler http.Handler)
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Mux returns the HTTP routes, so later parts can add theirs.
func (s *Server) Mux() Mux { return s.mux }

// Routes returns the pattern of every route added, in order ("GET
// /api/v1/chargers", "/ocpi/", …).
func (s *Server) Routes() []string { return s.mux.routes() }

// routeMux is an http.ServeMux that remembers its patterns, so a test can
// check that every operator API route is in the OpenAPI document.
type routeMux struct {
	*http.ServeMux
	mu       sync.Mutex
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.remember(pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.remember(pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

func (m *routeMux) remember(pattern string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.patterns = append(m.patterns, pattern)
}

func (m *routeMux) routes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.patterns...)
}

// Listen binds the HTTP listener at addr (--http), with an error that
// says what to do.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another server running? choose another address with --http)", addr, err)
	}
	return ln, nil
}

// Start listens on the configured address (or takes Options.Listener) and
// runs every component in the background (components lists them: the
// OCPP server's upkeep, session expiry, the pricer, OCPI, Beckn, …) and
// HTTP, under one errgroup. It returns once the components that must be
// ready before the first request (OCPI, Beckn) are, or with the error of
// one that failed on the way. A component that fails later stops the
// others and closes Failed; Shutdown returns its error. Nothing else in
// the server starts a goroutine, except afterCalls (owned and waited for
// by Shutdown).
func (s *Server) Start() (net.Addr, error) {
	ln := s.preLn
	if ln == nil {
		var err error
		if ln, err = Listen(s.cfg.HTTP); err != nil {
			return nil, err
		}
	}
	ln = s.wrapListener(ln)
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	if s.ocpi != nil && s.cfg.PublicURL == "" {
		s.ocpi.SetPublicURL(s.scheme() + "://" + ln.Addr().String())
	}
	if s.beckn != nil && s.cfg.PublicURL == "" { // peers reach us where we listen
		_ = s.beckn.SetURI(s.scheme() + "://" + ln.Addr().String() + "/beckn")
	}
	g, gctx := errgroup.WithContext(context.Background())
	// Two stages: the components Shutdown stops first, and those that
	// must outlive HTTP (Beckn acknowledges requests until HTTP drains).
	first, stopFirst := context.WithCancel(gctx)
	late, stopLate := context.WithCancel(gctx)
	s.mu.Lock()
	s.group, s.failed, s.stopFirst, s.stopLate = g, gctx.Done(), stopFirst, stopLate
	s.mu.Unlock()
	var ready []<-chan struct{}
	for _, c := range s.components() {
		ctx := first
		if c.late {
			ctx = late
		}
		if c.ready != nil {
			ready = append(ready, c.ready)
		}
		g.Go(func() error { return s.runComponent(ctx, c) })
	}
	for _, r := range ready {
		select {
		case <-r:
		case <-gctx.Done(): // a component failed before it was ready
			stopFirst()
			stopLate()
			_ = ln.Close()
			err := g.Wait()
			s.mu.Lock()
			s.ln, s.group = nil, nil
			s.mu.Unlock()
			return nil, err
		}
	}
	g.Go(func() error {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		s.log.Error("the HTTP server failed; shutting down", "err", err)
		return fmt.Errorf("http: %w", err)
	})
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	return ln.Addr(), nil
}

// component is a part of the server that runs in the background until
// its context ends.
type component struct {
	name string
	run  func(ctx context.Context) error
	// ready, when set, is closed once the component can take requests;
	// Start waits for it before serving.
	ready <-chan struct{}
	// late components are stopped after HTTP has drained.
	late bool
}

// components lists the parts that run in the background, each owned by
// the server's errgroup.
func (s *Server) components() []component {
	cs := []component{
		{name: "ocpp upkeep", run: s.ocpp.Run},
		{name: "session expiry", run: func(ctx context.Context) error { return s.svc.RunExpiry(ctx, time.Second) }},
	}
	if ep := s.events(); ep != nil && s.pricer != nil {
		cs = append(cs, component{name: "pricer", run: func(ctx context.Context) error { return s.pricer.Run(ctx, ep) }})
	}
	if run := s.retention(); run != nil {
		cs = append(cs, component{name: "retention", run: run})
	}
	if s.load != nil {
		cs = append(cs, component{name: "site load management", run: s.runLoad})
	}
	if s.ocpi != nil {
		cs = append(cs, component{name: "ocpi", run: s.ocpi.Run, ready: s.ocpi.Ready()})
	}
	if p := s.tariffPusher(); p != nil {
		cs = append(cs, component{name: "ocpi tariff pushes", run: p.Run})
	}
	if s.beckn != nil {
		cs = append(cs, component{name: "beckn", run: s.beckn.Run, ready: s.beckn.Ready(), late: true})
	}
	if s.cluster.node != nil {
		cs = append(cs, component{name: "cluster", run: s.runCluster, late: true})
	}
	// Late: the last authentications of the handshakes HTTP drains are
	// written before the store closes.
	cs = append(cs, component{name: "charger security bookkeeping", run: s.guard.Run, late: true})
	if c := s.relayEvents(); c != nil {
		cs = append(cs, *c)
	}
	if c := s.remoteDashboard(); c != nil {
		cs = append(cs, *c)
	}
	return cs
}

// runComponent runs c until ctx ends. An error, or a return while ctx
// still runs, is the component failing: it is logged here, once, and
// returned so that the errgroup stops the server.
func (s *Server) runComponent(ctx context.Context, c component) error {
	err := c.run(ctx)
	if ctx.Err() != nil {
		if err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("component stopped with an error", "component", c.name, "err", err)
		}
		return nil
	}
	if err == nil {
		err = errors.New("stopped although the server runs")
	}
	err = fmt.Errorf("%s: %w", c.name, err)
	s.log.Error("a component failed; the server stops", "component", c.name, "err", err)
	return err
}

// Failed is closed when a component failed (Shutdown returns its error);
// nil before Start, so that waiting on it blocks.
func (s *Server) Failed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// Serve waits until ctx ends or a component fails, then shuts down within
// grace and returns the component's error, if any, with Shutdown's. Call
// it after Start.
func (s *Server) Serve(ctx context.Context, grace time.Duration) error {
	select {
	case <-ctx.Done():
		s.log.Info("shutting down")
	case <-s.Failed():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return s.Shutdown(sctx)
}

// Shutdown stops in order: the background components, then charger
// sockets closed with 1001 once their in-flight calls finished, then HTTP
// drained, then the components that outlive HTTP, then the store flushed
// and closed. It returns the error of a component that failed, if any.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.ready = false
	started := s.group != nil
	s.mu.Unlock()
	if !started && s.preLn != nil {
		_ = s.preLn.Close()
	}
	var errs []error
	s.after.stop()
	if started {
		s.stopFirst()
	}
	if err := s.ocpp.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if started {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
		s.stopLate()
		if err := s.group.Wait(); err != nil {
			errs = append(errs, err)
		}
	}
	s.leaveCluster()
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	return errors.Join(errs...)
}

// rawCommands sends a raw protocol message with the commander of the
// charger's protocol (1.6 when it is not connected, which answers
// "not connected" the same way).
type rawCommands struct{ s *Server }

func (r rawCommands) Send(ctx context.Context, chargerID, action string, payload json.RawMessage, requestedBy string) (json.RawMessage, error) {
	c := r.s.cmd
	if r.s.ocpp.Protocol(chargerID) == ocpp201.Subprotocol {
		c = r.s.cmd201
	}
	return ocpp16.CoreErrors{Commander: c}.Send(ctx, chargerID, action, payload, requestedBy)
}
