package beckn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chargebridge/chargebridge/internal/beckn/evsession"
	"github.com/chargebridge/chargebridge/internal/beckn/signing"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/keylock"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

// Core is what the BPP needs of the session core (*charging.Service).
type Core interface {
	Store() charging.Store
	Docs() (charging.DocStore, error)
	RegisterTag(ctx context.Context, t charging.IDTag) (charging.IDTag, error)
	Subscribe(l charging.Listener)
}

// Commander is the core's command port, which validates, logs and applies
// a command's effect in the core before it returns.
type Commander = charging.Commands

// Config configures a BPP.
type Config struct {
	// Keys is our signing identity; its subscriber id is our bpp_id.
	Keys *signing.KeyPair
	// URI is our bpp_uri, the base URL BAPs reach /beckn/{action} at.
	URI string
	// Resolver finds the BAPs' public keys (a registry or a subscribers
	// file).
	Resolver signing.KeyResolver
	// Units selects the ENERGY/POWER telemetry unit codes written.
	Units evsession.UnitStyle
	// Pricer prices offers, quotes and sessions.
	Pricer Pricer
	// Catalog describes what the chargers offer.
	Catalog CatalogConfig
	// GracePeriod is how long a reservation is held past the requested
	// start (15 minutes when zero).
	GracePeriod time.Duration
	// Support is what on_support answers.
	Support SupportInfo
	// Skew is the clock difference tolerated in signatures
	// (signing.DefaultSkew when zero).
	Skew time.Duration
	// MaxSignatureLifetime refuses signatures valid for longer, which also
	// bounds how long message ids are remembered against replays (1 hour
	// when zero).
	MaxSignatureLifetime time.Duration
	// Replays, when set, remembers received message ids durably and for
	// every node sharing it (the store), for as long as the in-memory
	// guard does; a message id it already holds is a replay.
	Replays ReplayStore
	// Locks, when set, serializes changes to one order across every node
	// sharing it (the store); without it they are serialized within this
	// process only.
	Locks charging.Locker
	// SignatureTTL is the lifetime of our own signatures (60 s when zero).
	SignatureTTL time.Duration
	// StartWait is how long an update (start) waits for the charger to
	// start before answering (10 s when zero; never past the ttl).
	StartWait time.Duration
	// Workers process acknowledged requests (8 when zero).
	Workers int
	// HTTPClient sends callbacks (a 10 s timeout client when nil).
	HTTPClient *http.Client
	// Events, when set, is the event port BAPs' notifications are driven
	// by (the cluster's, with --nats); the store's own log when nil.
	Events charging.EventPort
	// Owner names this process among a cluster's (its node's run), and
	// Alive returns the owners of the nodes alive now. With both, the
	// node that leads KeptCallbacksJob re-sends the kept callbacks of
	// nodes that died; without (one node), a restart re-sends what was
	// kept.
	Owner string
	Alive func(ctx context.Context) (map[string]bool, error)
	// Clock tells the time for signatures and records (system clock when
	// nil).
	Clock charging.Clock
	Log   *slog.Logger
}

// BPP is chargebridge's Beckn provider platform: it verifies and
// acknowledges requests at POST /beckn/{action}, answers them with signed
// on_{action} callbacks, and tells BAPs when their sessions change.
type BPP struct {
	cfg       Config
	id        string
	core      Core
	cmd       Commander
	docs      charging.DocStore
	log       *slog.Logger
	clock     charging.Clock
	validator *evsession.Validator
	replay    *signing.ReplayGuard
	send      *sender

	jobs chan job
	// running is true while Run takes requests; ready is closed then.
	running atomic.Bool
	ready   chan struct{}

	// locks serialize changes to one order (cfg.Locks, or in-process).
	locks charging.Locker

	// watchMu guards watchers: per session, the requests waiting for it
	// to change (a start waiting for the charger to start the transaction).
	watchMu  sync.Mutex
	watchers map[string]map[chan struct{}]bool

	// Stats count what happened, for metrics and tests.
	Stats Stats
}

// Stats are the BPP's counters.
type Stats struct {
	Acked, Nacked atomic.Int64
}

// Counters is a snapshot of what the BPP did, for metrics.
type Counters struct {
	Acked, Nacked                                int64
	CallbacksDelivered, CallbacksFailed, Dropped int64
}

// Counters returns the BPP's counters: requests acknowledged and refused,
// callbacks delivered, given up, and dropped (a full queue).
func (b *BPP) Counters() Counters {
	return Counters{
		Acked: b.Stats.Acked.Load(), Nacked: b.Stats.Nacked.Load(),
		CallbacksDelivered: b.send.delivered.Load(), CallbacksFailed: b.send.failed.Load(),
		Dropped: b.send.dropped.Load(),
	}
}

type job struct {
	req      Request
	msg      any
	deadline time.Time
	ttl      time.Duration
}

// New builds a BPP on the core and the command path. Run runs it.
func New(cfg Config, core Core, cmd Commander) (*BPP, error) {
	if cfg.Keys == nil {
		return nil, errors.New("beckn: no signing key; create one with `chargebridge beckn keys --out FILE` and pass --beckn-key-file")
	}
	if cfg.Resolver == nil {
		return nil, errors.New("beckn: no way to find BAP keys; pass --beckn-registry URL or --beckn-subscribers FILE")
	}
	if err := checkCallbackURI(cfg.URI); err != nil {
		return nil, fmt.Errorf("beckn: bpp_uri: %w (set --public-url)", err)
	}
	if cfg.Pricer == nil {
		return nil, errors.New("beckn: no pricer")
	}
	docs, err := core.Docs()
	if err != nil {
		return nil, fmt.Errorf("beckn: orders need a document store: %w", err)
	}
	if cfg.GracePeriod <= 0 {
		cfg.GracePeriod = 15 * time.Minute
	}
	if cfg.Skew <= 0 {
		cfg.Skew = signing.DefaultSkew
	}
	if cfg.MaxSignatureLifetime <= 0 {
		cfg.MaxSignatureLifetime = time.Hour
	}
	if cfg.SignatureTTL <= 0 {
		cfg.SignatureTTL = time.Minute
	}
	if cfg.StartWait <= 0 {
		cfg.StartWait = 10 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Clock == nil {
		cfg.Clock = charging.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.Catalog.defaults(cfg.Keys.ID.SubscriberID)
	v, err := evsession.NewValidator()
	if err != nil {
		return nil, err
	}
	replay, err := signing.NewReplayGuard(cfg.Clock, replayWindow(cfg), 200_000)
	if err != nil {
		return nil, err
	}
	b := &BPP{
		cfg: cfg, id: cfg.Keys.ID.SubscriberID, core: core, cmd: cmd, docs: docs,
		log: cfg.Log.With("component", "beckn"), clock: cfg.Clock, validator: v, replay: replay,
		jobs:  make(chan job, 1024),
		ready: make(chan struct{}),
	}
	b.locks = cfg.Locks
	if b.locks == nil {
		b.locks = &keylock.Map{}
	}
	b.send = newSender(cfg.HTTPClient, cfg.Keys, cfg.Clock, cfg.SignatureTTL, b.log)
	core.Subscribe(b.onEvent)
	return b, nil
}

// SetURI changes our bpp_uri; call it before Run (the server knows its
// address only once it listens).
func (b *BPP) SetURI(uri string) error {
	if err := checkCallbackURI(uri); err != nil {
		return fmt.Errorf("beckn: bpp_uri: %w", err)
	}
	b.cfg.URI = uri
	return nil
}

// SubscriberID returns our bpp_id.
func (b *BPP) SubscriberID() string { return b.id }

// Run runs the workers (request processing, session notifications and
// callback delivery) until ctx ends; requests are refused before Ready and
// after ctx ends. It abandons callbacks not yet delivered and waits for
// the workers before it returns nil, or the error that stopped it (the
// event consumer could not start).
func (b *BPP) Run(ctx context.Context) error {
	events := b.cfg.Events
	if events == nil {
		events, _ = b.core.Store().(charging.EventPort)
	}
	if events == nil {
		return errors.New("beckn: the store has no event log, so BAPs could not be told of session changes")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	b.send.start(ctx, &wg)
	if err := b.resendPending(ctx); err != nil {
		cancel()
		wg.Wait()
		return fmt.Errorf("beckn: callbacks kept before the restart: %w", err)
	}
	if b.cfg.Alive != nil {
		wg.Go(func() { b.sweepKept(ctx) })
	}
	for range b.cfg.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-b.jobs:
					b.process(ctx, j)
				}
			}
		})
	}
	var failed error // set before cancel, read after wg.Wait
	wg.Go(func() {
		if err := events.Consume(ctx, EventsConsumer, b.handleEvent); err != nil && ctx.Err() == nil {
			failed = fmt.Errorf("beckn: the event consumer stopped: %w", err)
			cancel()
		}
	})
	b.running.Store(true)
	close(b.ready)
	<-ctx.Done()
	b.running.Store(false)
	wg.Wait()
	return failed
}

// Ready is closed once Run takes requests.
func (b *BPP) Ready() <-chan struct{} { return b.ready }

// Mux is where Register adds its route (an *http.ServeMux).
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// Register adds POST /beckn/{action} to mux.
func (b *BPP) Register(mux Mux) {
	mux.Handle("POST /beckn/{action}", b)
}

// ServeHTTP receives one Beckn request: it verifies the signature and the
// envelope, ACKs at once and processes the request in the background; or
// NACKs with a Beckn error code.
func (b *BPP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := b.clock.Now()
	action := r.PathValue("action")
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		b.nack(w, "", http.StatusBadRequest, errorf(CodeInvalidRequest, "could not read the body"))
		return
	}
	txID := peekTransactionID(body)
	if !slices.Contains(Actions, action) {
		b.nack(w, txID, http.StatusNotFound, errorf(CodeActionNotApplicable, "/beckn/%s is not an action this BPP serves; it serves %v", action, Actions))
		return
	}
	if len(body) > MaxBodyBytes {
		b.nack(w, txID, http.StatusRequestEntityTooLarge, errorf(CodeInvalidRequest, "body exceeds %d bytes", MaxBodyBytes))
		return
	}
	if !b.running.Load() {
		b.nack(w, txID, http.StatusServiceUnavailable, errorf(CodeBusinessError, "the BPP is shutting down; retry later"))
		return
	}

	// Authenticate before reading anything else.
	header := r.Header.Get("Authorization")
	if header == "" {
		b.unauthorized(w, txID, errorf(CodeAuthentication, "the request has no Authorization header; sign it with the Beckn Signature scheme"))
		return
	}
	if a, err := signing.ParseAuthorization(header); err == nil && time.Duration(a.Expires-a.Created)*time.Second > b.cfg.MaxSignatureLifetime {
		b.unauthorized(w, txID, errorf(CodeInvalidSignature, "the signature is valid for %s; at most %s is accepted", time.Duration(a.Expires-a.Created)*time.Second, b.cfg.MaxSignatureLifetime))
		return
	}
	key, err := signing.Verify(r.Context(), b.cfg.Resolver, header, body, now, b.cfg.Skew)
	if err != nil {
		code, status := signatureErrorCode(err)
		b.log.Warn("beckn request refused: signature", "action", action, "key", key.String(), "err", err)
		if status == http.StatusUnauthorized {
			b.unauthorized(w, txID, errorf(code, "%v", err))
		} else {
			b.nack(w, txID, status, errorf(code, "could not check the signature now; retry later"))
		}
		return
	}

	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		b.nack(w, txID, http.StatusBadRequest, errorf(CodeInvalidRequest, "the body is not a Beckn request {context, message}: %v", err))
		return
	}
	if e := validateContext(&req.Context, action, b.id); e != nil {
		b.nack(w, txID, http.StatusBadRequest, e)
		return
	}
	if key.SubscriberID != req.Context.BapID {
		b.unauthorized(w, txID, errorf(CodeInvalidSignature, "signed by %s but context.bap_id is %s", key.SubscriberID, req.Context.BapID))
		return
	}
	msg, e := decodeMessage(action, req.Message)
	if e != nil {
		b.nack(w, txID, http.StatusBadRequest, e)
		return
	}
	if err := b.replay.Check(key.SubscriberID, req.Context.MessageID); err != nil {
		b.log.Warn("beckn request refused: replay", "action", action, "bap", key.SubscriberID, "message_id", req.Context.MessageID)
		b.unauthorized(w, txID, errorf(CodeAuthentication, "message_id %s was already received", req.Context.MessageID))
		return
	}
	if b.cfg.Replays != nil {
		now := b.clock.Now()
		fresh, err := b.cfg.Replays.ClaimMessage(r.Context(), key.SubscriberID, req.Context.MessageID, now, now.Add(b.replayWindow()))
		if err != nil {
			b.log.Error("beckn request refused: replay store unavailable", "action", action, "err", err)
			b.nack(w, txID, http.StatusServiceUnavailable, errorf(CodeBusinessError, "cannot check the message id now; retry later"))
			return
		}
		if !fresh {
			b.log.Warn("beckn request refused: replay (seen before a restart or by another node)", "action", action, "bap", key.SubscriberID, "message_id", req.Context.MessageID)
			b.unauthorized(w, txID, errorf(CodeAuthentication, "message_id %s was already received", req.Context.MessageID))
			return
		}
	}
	ttl, _ := ParseTTL(req.Context.TTL)
	ttl = min(ttl, MaxTTL)
	select {
	case b.jobs <- job{req: req, msg: msg, ttl: ttl, deadline: time.Now().Add(ttl)}:
	default:
		b.nack(w, txID, http.StatusServiceUnavailable, errorf(CodeBusinessError, "too many requests in progress; retry later"))
		return
	}
	b.Stats.Acked.Add(1)
	writeJSON(w, http.StatusOK, AckResponse{TransactionID: req.Context.TransactionID, Timestamp: stamp(now), AckStatus: ACK})
}

// signatureErrors maps each verification failure to its Beckn code and
// HTTP status; an error matching none (a key lookup that failed) is a
// transient 503.
var signatureErrors = []struct {
	err    error
	code   string
	status int
}{
	{signing.ErrMalformedHeader, CodeAuthentication, http.StatusUnauthorized},
	{signing.ErrUnsupportedAlgorithm, CodeAlgorithmMismatch, http.StatusUnauthorized},
	{signing.ErrNotYetValid, CodeInvalidSignature, http.StatusUnauthorized},
	{signing.ErrExpired, CodeExpiredSignature, http.StatusUnauthorized},
	{signing.ErrDigestMismatch, CodeInvalidSignature, http.StatusUnauthorized},
	{signing.ErrBadSignature, CodeInvalidSignature, http.StatusUnauthorized},
	{signing.ErrUnknownKey, CodeKeyNotFound, http.StatusUnauthorized},
	{signing.ErrReplay, CodeAuthentication, http.StatusUnauthorized},
}

func signatureErrorCode(err error) (string, int) {
	for _, m := range signatureErrors {
		if errors.Is(err, m.err) {
			return m.code, m.status
		}
	}
	return CodeAuthentication, http.StatusServiceUnavailable
}

func (b *BPP) unauthorized(w http.ResponseWriter, txID string, e *Error) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Signature realm=%q,headers=%q`, b.id, signing.SignedHeaders))
	b.nack(w, txID, http.StatusUnauthorized, e)
}

func (b *BPP) nack(w http.ResponseWriter, txID string, status int, e *Error) {
	b.Stats.Nacked.Add(1)
	writeJSON(w, status, AckResponse{TransactionID: txID, Timestamp: stamp(b.clock.Now()), AckStatus: NACK, Error: e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// peekTransactionID reads context.transaction_id for a NACK, if the body
// has one.
func peekTransactionID(body []byte) string {
	var p struct {
		Context struct {
			TransactionID string `json:"transaction_id"`
		} `json:"context"`
	}
	if json.Unmarshal(body, &p) != nil || len(p.Context.TransactionID) > 128 {
		return ""
	}
	return p.Context.TransactionID
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// process carries out an acknowledged request and queues its callback.
func (b *BPP) process(ctx context.Context, j job) {
	ctx, cancel := context.WithDeadline(ctx, j.deadline)
	defer cancel()
	c := j.req.Context
	log := b.log.With("action", c.Action, "bap", c.BapID, "transaction_id", c.TransactionID, "message_id", c.MessageID)
	var msg any
	var e *Error
	func() {
		defer func() {
			if p := recover(); p != nil {
				log.Error("beckn handler panicked", "panic", p)
				e = errorf(CodeBusinessError, "internal error")
			}
		}()
		msg, e = b.handle(ctx, j, log)
	}()
	if _, ok := msg.(answered); ok && e == nil {
		return
	}
	if e != nil {
		log.Info("beckn request answered with an error", "code", e.Code, "error", e.Message)
		msg = nil
	}
	b.answer(j, msg, e, log)
}

// answered is returned by a handler that queued its answer itself (under
// its order's lock, so that it goes before any later notification).
type answered struct{}

// answer queues the on_{action} answer to a request.
func (b *BPP) answer(j job, msg any, e *Error, log *slog.Logger) {
	c := j.req.Context
	b.callback(c, "on_"+c.Action, c.MessageID, msg, e, j.deadline, log)
}

// callback queues a signed on_* message to a BAP. reply is the request's
// context; messageID is the same as the request's for an answer and new
// for an unsolicited message.
func (b *BPP) callback(reply Context, action, messageID string, msg any, e *Error, deadline time.Time, log *slog.Logger) {
	if d, err := b.prepare(reply, action, messageID, msg, e, deadline, log); err == nil {
		b.send.enqueue(d)
	}
}

// prepare builds the delivery of a callback (logged when it cannot be
// encoded, a bug).
func (b *BPP) prepare(reply Context, action, messageID string, msg any, e *Error, deadline time.Time, log *slog.Logger) (*delivery, error) {
	out := reply
	out.Action = action
	out.MessageID = messageID
	out.BppID = b.id
	out.BppURI = b.cfg.URI
	out.Timestamp = stamp(b.clock.Now())
	if out.Version == "" {
		out.Version = "2.0.0"
	}
	body, err := json.Marshal(Callback{Context: out, Message: msg, Error: e})
	if err != nil {
		log.Error("beckn callback not encoded", "err", err)
		return nil, err
	}
	b.checkSessions(body, log)
	return &delivery{
		url: callbackURL(reply.BapURI, reply.Action), action: action, txID: reply.TransactionID, msgID: messageID,
		body: body, deadline: deadline,
	}, nil
}

// checkSessions validates every EvChargingSession in a callback against
// our schema: a failure is a bug, logged loudly, and the message still
// goes.
func (b *BPP) checkSessions(body []byte, log *slog.Logger) {
	var p struct {
		Message struct {
			Order struct {
				Fulfillment struct {
					Attrs json.RawMessage `json:"beckn:deliveryAttributes"`
				} `json:"beckn:fulfillment"`
			} `json:"order"`
		} `json:"message"`
	}
	if json.Unmarshal(body, &p) != nil || len(p.Message.Order.Fulfillment.Attrs) == 0 {
		return
	}
	if err := b.validator.Validate(bytes.Clone(p.Message.Order.Fulfillment.Attrs)); err != nil {
		log.Error("emitted EvChargingSession does not validate against our schema (a bug)", "err", err)
	}
}

// ReplayStore remembers received message ids beyond this process: a
// claim is refused (fresh false) while an unexpired one exists. Both
// stores implement it (a beckn_replay table).
type ReplayStore interface {
	ClaimMessage(ctx context.Context, bapID, messageID string, now, expires time.Time) (fresh bool, err error)
}

// replayWindow is how long a message id is remembered: the longest
// signature lifetime accepted, plus the skew on both ends.
func replayWindow(cfg Config) time.Duration { return cfg.MaxSignatureLifetime + 2*cfg.Skew }

func (b *BPP) replayWindow() time.Duration { return replayWindow(b.cfg) }
