package ocpi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/security"
)

// Config is the CPO role's configuration.
type Config struct {
	// Party is who we are (--ocpi-country, --ocpi-party).
	Party Party
	// PublicURL is the base URL peers reach us at, without a trailing
	// slash (--public-url). SetPublicURL may set it once the listener is
	// up.
	PublicURL string
	// BusinessName is our credentials' business_details.name.
	BusinessName string
	// HTTPClient calls peers; its Timeout bounds every call (default 30s).
	HTTPClient *http.Client
	// RetryMin and RetryMax bound the outbox's exponential backoff
	// (default 1s and 5m).
	RetryMin, RetryMax time.Duration
	// SessionPatchInterval is the shortest time between two PATCHes of one
	// session caused by meter values (default 1m); status changes are
	// pushed at once.
	SessionPatchInterval time.Duration
	// AuthTimeout bounds a real-time authorization at the eMSP (default 5s).
	AuthTimeout time.Duration
	// CommandTimeout is how long a command waits for the charger before
	// its result is TIMEOUT (default 30s).
	CommandTimeout time.Duration
	// Presence, when set, lets commands to an offline charger be
	// rejected at once.
	Presence Presence
	// Pricer, when set, prices sessions for their views and CDRs; without
	// it CDRs carry a zero total_cost and a remark.
	Pricer Pricer
	// Catalog, when set, gives the tariffs to publish (Tariffs module:
	// the pull reads it, TariffPusher pushes its changes) and each
	// connector's tariff and charger's site (Locations).
	Catalog Catalog
	// OutboxLease is how long a node's hold on a party's push queue lasts
	// after it last renewed it (every third of it), when nodes share the
	// store: a dead node's queues are delivered by another within about
	// this (default 15s).
	OutboxLease time.Duration
	// Sites, when set, groups chargers into Locations: a site's chargers
	// are the EVSEs of one Location (sites.go).
	Sites Sites
	// SyncInterval is how often Locations are compared with the catalog's
	// sites and assignments, and changes pushed (default 30s).
	SyncInterval time.Duration
	// Events, when set, is the event port the pushes are driven by (the
	// cluster's, with --nats); the store's own log when nil.
	Events charging.EventPort
	// Node, when set, names this node in the holders of the outbox's
	// leases (ocpi-NODE-…), so the operator can tell which node delivers
	// a party's queue.
	Node string
}

// Commander is the core's command port, the one path commands take to
// chargers.
type Commander = charging.Commands

// CPO is chargebridge's OCPI 2.2.1 CPO role: the HTTP interfaces peers
// call (versions, credentials, Locations, Sessions, CDRs and Tariffs as
// Sender, Tokens and Commands as Receiver) and the pushes to every
// registered eMSP. It keeps its state in the core's DocStore.
type CPO struct {
	// fails backs off an address after unknown credentials tokens (5
	// free, then 1 s doubling to 5 min, answered 429 without a lookup).
	fails  *security.Backoff
	cfg    Config
	svc    *charging.Service
	store  charging.Store
	docs   charging.DocStore
	peers  peers
	cmd    Commander
	tokens *TokenAuthorizer
	log    *slog.Logger
	client *http.Client
	mux    *http.ServeMux
	out    *outbox
	evq    *evQueue
	// sitesChanged says a site changed since the event worker last
	// published the layout (SitesChanged).
	sitesChanged atomic.Bool
	// sitesGen counts SitesChanged calls; laid is the layout last read
	// from the sites and the count it was read at (sites.go).
	sitesGen atomic.Uint64
	laid     atomic.Pointer[laidLayout]

	// mu guards baseURL.
	mu      sync.Mutex
	baseURL string

	// bg owns the background goroutines (event worker, outbox, commands);
	// bgMu orders bg.Add against stop's cancel and Wait.
	bg     sync.WaitGroup
	bgMu   sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	// ready is closed once Run listens to events.
	ready chan struct{}
	// failed is the error that stopped the background work (fail).
	failMu sync.Mutex
	failed error
}

// New returns the CPO role over the service's store. cmd may be nil (no
// Commands module); tokens may be nil (eMSP tokens are still stored).
func New(svc *charging.Service, cmd Commander, tokens *TokenAuthorizer, log *slog.Logger, cfg Config) (*CPO, error) {
	docs, err := svc.Docs()
	if err != nil {
		return nil, fmt.Errorf("ocpi needs a store with documents: %w", err)
	}
	if err := validParty(cfg.Party.CountryCode, cfg.Party.PartyID); err != nil {
		return nil, fmt.Errorf("ocpi identity (--ocpi-country, --ocpi-party): %w", err)
	}
	cfg.Party.CountryCode = strings.ToUpper(cfg.Party.CountryCode)
	cfg.Party.PartyID = strings.ToUpper(cfg.Party.PartyID)
	if cfg.BusinessName == "" {
		cfg.BusinessName = "chargebridge"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(5*time.Minute, cfg.RetryMin)
	}
	if cfg.SessionPatchInterval <= 0 {
		cfg.SessionPatchInterval = time.Minute
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = 5 * time.Second
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 30 * time.Second
	}
	if cfg.OutboxLease <= 0 {
		cfg.OutboxLease = 15 * time.Second
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = 30 * time.Second
	}
	c := &CPO{fails: security.NewBackoff(5, time.Second, 5*time.Minute), cfg: cfg, svc: svc, store: svc.Store(), docs: docs, peers: peers{docs}, cmd: cmd, tokens: tokens,
		log: log.With("component", "ocpi"), client: cfg.HTTPClient, baseURL: strings.TrimRight(cfg.PublicURL, "/")}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.ready = make(chan struct{})
	if tokens != nil {
		tokens.cpo.Store(c)
	}
	c.out = newOutbox(c)
	c.routes()
	return c, nil
}

// SetPublicURL sets the base URL peers reach us at, when it is known only
// once the listener is up.
func (c *CPO) SetPublicURL(u string) {
	c.mu.Lock()
	c.baseURL = strings.TrimRight(u, "/")
	c.mu.Unlock()
}

func (c *CPO) publicURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.baseURL
}

func (c *CPO) now() time.Time { return c.svc.Clock().Now() }

// VersionsURL is our versions endpoint.
func (c *CPO) VersionsURL() string { return c.publicURL() + "/ocpi/versions" }

func (c *CPO) moduleURL(module string) string {
	return c.publicURL() + "/ocpi/" + Version + "/" + module
}

// ServeHTTP serves /ocpi/.
func (c *CPO) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// access is what a route lets a credentials token do.
type access int

const (
	// registration routes accept token A (versions, credentials).
	registration access = iota
	// registered routes need a registered peer's token.
	registered
)

type peerKey struct{}

func peerFrom(ctx context.Context) *Peer {
	p, _ := ctx.Value(peerKey{}).(*Peer)
	return p
}

// handle registers an OCPI route: it checks the credentials token, echoes
// the request and correlation ids, sets the routing headers and turns
// returned errors into the envelope.
func (c *CPO) handle(pattern string, a access, h func(w http.ResponseWriter, r *http.Request) error) {
	c.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		reqID := r.Header.Get(hRequestID)
		if reqID == "" {
			reqID = newUUID()
		}
		corrID := r.Header.Get(hCorrelationID)
		if corrID == "" {
			corrID = reqID
		}
		w.Header().Set(hRequestID, reqID)
		w.Header().Set(hCorrelationID, corrID)
		w.Header().Set(hFromCountryCode, c.cfg.Party.CountryCode)
		w.Header().Set(hFromPartyID, c.cfg.Party.PartyID)
		p, err := c.authenticate(r, a)
		if err != nil {
			c.writeError(w, err)
			return
		}
		w.Header().Set(hToCountryCode, p.CountryCode)
		w.Header().Set(hToPartyID, p.PartyID)
		r = r.WithContext(context.WithValue(r.Context(), peerKey{}, p))
		if err := h(w, r); err != nil {
			c.writeError(w, err)
		}
	})
}

func (c *CPO) authenticate(r *http.Request, a access) (*Peer, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errorf(http.StatusUnauthorized, StatusClientError, "missing Authorization header; send Authorization: Token <base64 credentials token>")
	}
	addr := r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	if wait := c.fails.Wait(addr, time.Now()); wait > 0 {
		return nil, errorf(http.StatusTooManyRequests, StatusClientError, "too many unknown credentials tokens from this address; retry in %d s", int(wait.Seconds())+1)
	}
	for _, tok := range DecodeTokenHeader(h) {
		p, err := c.peers.byToken(r.Context(), tok)
		if errors.Is(err, charging.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if p.Status == PeerUnregistered {
			break
		}
		if a == registered && (p.OurTokenIsA || p.Status != PeerRegistered) {
			// Token A opens versions and credentials only.
			return nil, errorf(http.StatusUnauthorized, StatusClientError, "this credentials token is for registration only; register through credentials first")
		}
		return &p, nil
	}
	c.fails.Fail(addr, time.Now())
	return nil, errorf(http.StatusUnauthorized, StatusClientError, "unknown credentials token")
}

func (c *CPO) routes() {
	c.mux = http.NewServeMux()
	base := "/ocpi/" + Version
	c.handle("GET /ocpi/versions", registration, c.getVersions)
	c.handle("GET "+base, registration, c.getVersionDetails)
	c.handle("GET "+base+"/{$}", registration, c.getVersionDetails)
	c.handle("GET "+base+"/credentials", registration, c.getCredentials)
	c.handle("POST "+base+"/credentials", registration, c.postCredentials)
	c.handle("PUT "+base+"/credentials", registration, c.putCredentials)
	c.handle("DELETE "+base+"/credentials", registration, c.deleteCredentials)
	c.moduleRoutes(base)
	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.writeError(w, errorf(http.StatusNotFound, StatusClientError, "no OCPI endpoint %s %s", r.Method, r.URL.Path))
	})
}

// decodeBody reads a JSON request body into v; a body that is not JSON is
// HTTP 400 (status_codes: the transport layer), one that does not fit v is
// 2001.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return errorf(http.StatusBadRequest, StatusClientError, "read body: %v", err)
	}
	if len(b) > maxBody {
		return errorf(http.StatusRequestEntityTooLarge, StatusClientError, "body larger than %d bytes", maxBody)
	}
	if !json.Valid(b) {
		return errorf(http.StatusBadRequest, StatusClientError, "body is not JSON")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errorf(http.StatusBadRequest, StatusInvalidParams, "body: %v", err)
	}
	return nil
}

// Run does the background work until ctx ends: it resumes what a
// previous run left in the outbox, answers the commands a previous run
// left unanswered, turns core events into pushes and syncs the catalog.
// Ready is closed once it listens to events. Run waits for the work it
// started (outbox deliveries, commands) before it returns nil; it returns
// an error when it cannot start or its event consumer stops.
func (c *CPO) Run(ctx context.Context) error {
	defer c.stop()
	defer context.AfterFunc(ctx, c.cancel)()
	if err := c.start(); err != nil {
		return err
	}
	close(c.ready)
	<-c.ctx.Done()
	c.failMu.Lock()
	defer c.failMu.Unlock()
	return c.failed
}

// fail stops the background work for err, which Run returns (the first,
// when several fail).
func (c *CPO) fail(err error) {
	c.failMu.Lock()
	if c.failed == nil {
		c.failed = err
	}
	c.failMu.Unlock()
	c.cancel()
}

// Ready is closed once Run listens to events and delivers pushes.
func (c *CPO) Ready() <-chan struct{} { return c.ready }

func (c *CPO) start() error {
	if err := c.out.start(c.ctx); err != nil {
		return err
	}
	if c.cmd != nil {
		if err := c.answerStaleCommands(c.ctx); err != nil {
			return fmt.Errorf("ocpi commands: %w", err)
		}
		c.goBG(c.runStaleCommands)
	}
	if err := c.startEvents(); err != nil {
		return err
	}
	if c.cfg.Catalog != nil {
		c.goBG(c.runSync)
	}
	return nil
}

// stop ends the background work and waits for it.
func (c *CPO) stop() {
	c.bgMu.Lock()
	c.cancel()
	c.bgMu.Unlock()
	c.bg.Wait()
}

// goBG runs f as a background goroutine owned by the CPO; once the CPO
// stops it does nothing.
func (c *CPO) goBG(f func(ctx context.Context)) {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.ctx.Err() != nil {
		return
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		f(c.ctx)
	}()
}

// Party is the CPO's own OCPI identity, as it pushes and signs its objects.
func (c *CPO) Party() Party { return c.cfg.Party }
