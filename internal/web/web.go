// Package web is the operator dashboard: server-rendered pages for the
// overview, chargers and sessions, a little JavaScript that keeps them live
// from a server-sent event stream of the core's changes, session charts
// (uPlot, vendored under static/uplot) and command buttons that call the
// operator API. Its assets are embedded, so the one binary serves it at /.
//
// It also adds two read endpoints to the operator API that exist for the
// dashboard: GET /api/v1/stream (the event stream) and
// GET /api/v1/sessions/{id}/views (a session's OCPI and Beckn views), and
// the login form that Auth's session cookie comes from.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/security"
)

//go:embed templates static
var assets embed.FS

// Presence tells whether a charger has an open connection.
type Presence interface {
	Connected(chargerID string) bool
}

// PresenceSet is a Presence that also gives every connected charger at
// once: the pages that show the whole fleet (overview, map, alerts) ask
// it once rather than once per charger, which in a cluster is a lookup
// each.
type PresenceSet interface {
	ConnectedSet(ctx context.Context) (map[string]bool, error)
}

// connectedFunc returns whether each charger is connected, for a page
// that shows many: from one PresenceSet call when the Presence has it
// (per charger when that call fails).
func (d *Dashboard) connectedFunc(ctx context.Context) func(chargerID string) bool {
	if d.presence == nil {
		return func(string) bool { return false }
	}
	if ps, ok := d.presence.(PresenceSet); ok {
		set, err := ps.ConnectedSet(ctx)
		if err == nil {
			return func(id string) bool { return set[id] }
		}
		d.log.Warn("dashboard: the fleet's connections not listed at once; asking per charger", "err", err)
	}
	return d.presence.Connected
}

// Config is what the dashboard is built from.
type Config struct {
	// Service is the session core: its store is read, its events streamed.
	Service *charging.Service
	// Presence tells which chargers are connected (in a cluster: to any
	// node).
	Presence Presence
	// Online returns the number of connected chargers (polled for the
	// stream's presence events).
	Online func() int64
	// PresenceVersion, when set, changes whenever the set of connected
	// chargers may have changed, even with the count the same (a cluster's
	// copy of its presence records): the stream then tells pages to
	// reload what they show.
	PresenceVersion func() uint64
	// Auth guards the dashboard; the login form uses it.
	Auth *Auth
	// CPO is who we are in OCPI, for the session's OCPI view.
	CPO ocpi.Party
	// Pricer, when set, prices the session shown on its page and views.
	Pricer Pricer
	// Security, when set, gives a charger's security (profile, last
	// authenticated connection, failed attempts, certificate expiry) for
	// its page.
	Security func(ctx context.Context, chargerID string) (security.View, error)
	// SecurityAll, when set, gives every charger's security for the
	// chargers page's alerts.
	SecurityAll func(ctx context.Context) ([]security.View, error)
	// Sites, when set, gives the sites for their pages and the charger
	// page's site.
	Sites Sites
	// Catalog, when set, gives the tariffs page and the map their data.
	Catalog *pricing.Catalog
	// Outbox, when set, gives the OCPI outboxes for the alerts page.
	Outbox OutboxStats
	// Frames, when set, is the OCPP message log the charger page shows
	// and switches.
	Frames *ocpp.FrameLog
	// Orders, when set, gives the Beckn orders page its data.
	Orders *Orders
	// OCPI, when set, is the CPO whose parties the partners page shows.
	OCPI *ocpi.CPO
	// Cluster, when set, gives the cluster page its nodes.
	Cluster api.Cluster
	// Log receives page errors.
	Log *slog.Logger
}

// Pricer prices one session; nil means it has no price.
type Pricer interface {
	Price(ctx context.Context, s charging.Session, samples []charging.MeterSample) (*pricing.Priced, error)
}

// Dashboard serves the operator dashboard.
type Dashboard struct {
	security    func(ctx context.Context, chargerID string) (security.View, error)
	securityAll func(ctx context.Context) ([]security.View, error)
	svc         *charging.Service
	sites       Sites
	presence    Presence
	pricer      Pricer
	catalog     *pricing.Catalog
	outbox      OutboxStats
	frames      *ocpp.FrameLog
	orders      *Orders
	ocpi        *ocpi.CPO
	cluster     api.Cluster
	auth        *Auth
	cpo         ocpi.Party
	log         *slog.Logger
	stream      *stream
	pages       map[string]*template.Template
	static      http.Handler
	version     string // changes with the assets, for cache busting

	// ovMu guards the cached overview below: it is computed at most once
	// per overviewTTL however many browsers look.
	ovMu sync.Mutex
	ov   *overview
}

// New builds the dashboard and subscribes it to the core's events.
func New(cfg Config) (*Dashboard, error) {
	if cfg.Service == nil {
		return nil, errors.New("web: Config.Service is required")
	}
	if cfg.Auth == nil {
		cfg.Auth = NewAuth("", nil)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	online := cfg.Online
	if online == nil {
		online = func() int64 { return 0 }
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	d := &Dashboard{
		svc: cfg.Service, presence: cfg.Presence, pricer: cfg.Pricer, auth: cfg.Auth, cpo: cfg.CPO, log: cfg.Log, security: cfg.Security, securityAll: cfg.SecurityAll, sites: cfg.Sites,
		catalog: cfg.Catalog, outbox: cfg.Outbox, frames: cfg.Frames, orders: cfg.Orders, ocpi: cfg.OCPI, cluster: cfg.Cluster,
		stream: newStream(cfg.Service.Clock().Now, online, cfg.PresenceVersion),
		pages:  map[string]*template.Template{},
	}
	if d.version, err = hashFS(static); err != nil {
		return nil, err
	}
	d.static = http.StripPrefix("/static/", http.FileServerFS(static))
	for _, p := range []string{"login", "overview", "chargers", "charger", "sessions", "session", "notfound", "sites", "site", "tags", "tariffs", "map", "alerts", "orders", "partners", "cluster"} {
		t, err := template.New(p).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", p, err)
		}
		d.pages[p] = t
	}
	cfg.Service.Subscribe(d.stream.publish)
	return d, nil
}

// Mux is where Register adds the routes (an *http.ServeMux, or the
// server's, which remembers them).
type Mux interface {
	Handle(pattern string, handler http.Handler)
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Register adds the dashboard's routes to mux.
func (d *Dashboard) Register(mux Mux) {
	mux.HandleFunc("GET /{$}", d.overviewPage)
	mux.HandleFunc("GET /chargers", d.chargersPage)
	mux.HandleFunc("GET /chargers/{id}", d.chargerPage)
	mux.HandleFunc("GET /sessions", d.sessionsPage)
	mux.HandleFunc("GET /sessions/{id}", d.sessionPage)
	mux.HandleFunc("GET /sites", d.sitesPage)
	mux.HandleFunc("GET /sites/{id}", d.sitePage)
	mux.HandleFunc("GET /tags", d.tagsPage)
	mux.HandleFunc("GET /tariffs", d.tariffsPage)
	mux.HandleFunc("GET /map", d.mapPage)
	mux.HandleFunc("GET /alerts", d.alertsPage)
	mux.HandleFunc("GET /orders", d.ordersPage)
	mux.HandleFunc("GET /partners", d.partnersPage)
	mux.HandleFunc("GET /cluster", d.clusterPage)
	mux.HandleFunc("GET /api/v1/ocpi/parties", d.listParties)
	mux.HandleFunc("POST /api/v1/ocpi/parties", d.registerParty)
	mux.HandleFunc("DELETE /api/v1/ocpi/parties/{key}", d.unregisterParty)
	mux.HandleFunc("POST /api/v1/ocpi/parties/{key}/retry", d.retryParty)
	mux.HandleFunc("DELETE /api/v1/ocpi/parties/{key}/pushes/{id}", d.dropPush)
	mux.HandleFunc("GET /api/v1/beckn/orders", d.listOrders)
	mux.HandleFunc("GET /api/v1/alerts", d.listAlerts)
	mux.HandleFunc("GET /api/v1/chargers/{id}/frames", d.getFrames)
	mux.HandleFunc("PUT /api/v1/chargers/{id}/frames", d.putFrames)
	mux.HandleFunc("POST /api/v1/alerts/ack", d.ackAlert)
	mux.HandleFunc("GET /login", d.loginPage)
	mux.HandleFunc("POST /login", d.loginSubmit)
	mux.HandleFunc("POST /logout", d.logoutSubmit)
	mux.HandleFunc("GET /static/", d.serveStatic)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	mux.Handle("GET /api/v1/stream", d.stream)
	mux.HandleFunc("GET /api/v1/sessions/{id}/views", d.sessionViews)
}

// Show streams e to the dashboard's live clients as the core's own events
// are: in a cluster, the changes of chargers another node holds, read from
// the cluster's event port.
func (d *Dashboard) Show(e charging.Event) { d.stream.publish(e) }

// Watched reports whether a browser follows the live stream (Show is then
// worth the reading it takes).
func (d *Dashboard) Watched() bool { return d.stream.clientCount() > 0 }

// Close ends the event streams so that the HTTP server can drain; call it
// when the server starts shutting down (http.Server.RegisterOnShutdown).
func (d *Dashboard) Close() { d.stream.close() }

// hashFS returns a short hash of every file in fsys.
func hashFS(fsys fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12], err
}

func (d *Dashboard) serveStatic(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("v") == d.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	d.static.ServeHTTP(w, r)
}

// pageData is what every page template gets.
type pageData struct {
	Title    string
	Nav      string
	Open     bool
	LoggedIn bool
	V        string
	Now      time.Time
	Data     any
}

// securityHeaders are set on every page: scripts and styles from this
// server only, no framing.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, data any) {
	var buf bytes.Buffer
	pd := pageData{Title: title, Nav: nav, Open: d.auth.Open(), LoggedIn: d.auth.LoggedIn(r), V: d.version, Now: d.svc.Clock().Now(), Data: data}
	if err := d.pages[name].ExecuteTemplate(&buf, "layout", pd); err != nil {
		d.log.Error("dashboard page failed", "page", name, "err", err)
		http.Error(w, "dashboard page failed; see the server log", http.StatusInternalServerError)
		return
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail answers a page request whose data could not be read.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, charging.ErrNotFound) {
		d.render(w, r, http.StatusNotFound, "notfound", "Not found", "", err.Error())
		return
	}
	if errors.Is(err, charging.ErrInvalidInput) {
		d.render(w, r, http.StatusBadRequest, "notfound", "Bad request", "", err.Error())
		return
	}
	d.log.Error("dashboard page failed", "path", r.URL.Path, "err", err)
	http.Error(w, "dashboard page failed; see the server log", http.StatusInternalServerError)
}

// writeError answers with the operator API's error JSON.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

type loginData struct {
	Next  string
	Error string
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if d.auth.Open() || d.auth.LoggedIn(r) {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	d.render(w, r, http.StatusOK, "login", "Log in", "", loginData{Next: next})
}

func (d *Dashboard) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if err := d.auth.cop.Check(r); err != nil {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	next := safeNext(r.PostFormValue("next"))
	if d.auth.Open() {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	ok, retry := d.auth.login(w, r, strings.TrimSpace(r.PostFormValue("token")))
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
		d.render(w, r, http.StatusTooManyRequests, "login", "Log in", "", loginData{Next: next, Error: "Too many wrong tokens from this address; wait a little and try again."})
		return
	}
	if !ok {
		d.log.Warn("dashboard login failed: wrong token", "remote", r.RemoteAddr)
		d.render(w, r, http.StatusUnauthorized, "login", "Log in", "", loginData{Next: next, Error: "That is not the server's --api-token."})
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	d.auth.logout(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// charger is the API view of a charger.
func (d *Dashboard) charger(c charging.Charger) api.Charger {
	var p api.Presence
	if d.presence != nil {
		p = d.presence
	}
	return api.ChargerView(c, p)
}

// fleetCharger is the API view of a charger on a page of many, with
// connected from connectedFunc (its protocol still asked of d.presence).
func (d *Dashboard) fleetCharger(c charging.Charger, connected func(string) bool) api.Charger {
	return api.ChargerView(c, fleetPresence{connected: connected, p: d.presence})
}

// fleetPresence answers Connected from a fleet-wide view and Protocol
// from the Presence, when it tells.
type fleetPresence struct {
	connected func(string) bool
	p         Presence
}

func (f fleetPresence) Connected(id string) bool { return f.connected(id) }

func (f fleetPresence) Protocol(id string) string {
	if pp, ok := f.p.(interface{ Protocol(string) string }); ok {
		return pp.Protocol(id)
	}
	return ""
}
