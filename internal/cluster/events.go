package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/eventlog"
)

// Events through JetStream. The store's event log (a PostgreSQL table
// written in the transaction of each change) stays the outbox and the one
// source of truth; a relay reads it in commit order, as the durable store
// consumer RelayConsumer, and publishes each event to the stream
// EventStream with Nats-Msg-Id = Event.ID. The cluster's consumers read the
// stream: a durable name is one JetStream durable consumer that every node
// pulls from, so each event is handled by one node; "" is an ordered
// consumer of new events on each node (dashboards).
//
// Which nodes relay: every node runs Relay. Where the store offers
// leadership (charging.Elector), only the leader relays, so the log is
// read and published once, and another node takes over within LeadCheck
// when the leader's database connection drops; otherwise every node relays
// the same log, and the stream's duplicate window drops what a second relay
// (or a relay that restarted from its last saved position, at most one
// read batch behind) publishes again. Order holds either way: each relay
// publishes one event at a time, in log order, and waits for the stream's
// acknowledgement, so an event is in the stream before any relay publishes
// the next.
const (
	EventStream    = "CB_EVENTS" // the default cluster's (namesOf)
	RelayConsumer  = "jetstream-relay"
	relayLeaderJob = "jetstream-relay"
)

// Defaults of EventsConfig.
const (
	// DefaultAckWait is how long a node may hold an event without telling
	// JetStream it still works on it: the handling node reports progress
	// every third of it, so an event held by a node that died is delivered
	// to another one within AckWait (plus a fetch wait of fetchWait).
	DefaultAckWait = 10 * time.Second
	// DefaultDuplicates is the stream's duplicate window.
	DefaultDuplicates = 5 * time.Minute
	fetchWait         = 2 * time.Second
)

// EventsConfig configures a node's JetStream event port.
type EventsConfig struct {
	// Cluster is the cluster's name (Config.Name; DefaultName when
	// empty): the stream and its subjects start with it.
	Cluster string
	// Store is the store's event log: Publish appends to it (the
	// transactional outbox), and the relay consumes it.
	Store charging.EventPort
	// Leader, when set (the PostgreSQL store's advisory-lock
	// leadership), lets only the leading node relay.
	Leader charging.Elector
	// AckWait (DefaultAckWait when zero); Backoff and MaxBackoff bound
	// the wait before an event whose handler failed is delivered again
	// (100 ms and 30 s when zero); Duplicates is the stream's duplicate
	// window (DefaultDuplicates); MaxAge how long the stream keeps events
	// (eventlog.Retention).
	AckWait             time.Duration
	Backoff, MaxBackoff time.Duration
	Duplicates, MaxAge  time.Duration
	// LeadCheck is how often a relaying leader confirms it still leads
	// and a follower asks to lead (5 s when zero).
	LeadCheck time.Duration
	Log       *slog.Logger
}

// Events is charging.EventPort over NATS JetStream.
type Events struct {
	cfg   EventsConfig
	names names
	js    jetstream.JetStream
	log   *slog.Logger
}

var _ charging.EventPort = (*Events)(nil)

// Events creates (or adopts) the event stream on the node's NATS
// connection and returns the port.
func (n *Node) Events(ctx context.Context, cfg EventsConfig) (*Events, error) {
	if cfg.Log == nil {
		cfg.Log = n.cfg.Log
	}
	cfg.Cluster = n.cfg.Name
	return NewEvents(ctx, n.js, cfg)
}

// NewEvents creates (or adopts) the event stream on js and returns the
// port.
func NewEvents(ctx context.Context, js jetstream.JetStream, cfg EventsConfig) (*Events, error) {
	if cfg.Store == nil {
		return nil, errors.New("cluster events: EventsConfig.Store is required")
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Duplicates <= 0 {
		cfg.Duplicates = DefaultDuplicates
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = eventlog.Retention
	}
	if cfg.LeadCheck <= 0 {
		cfg.LeadCheck = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ev := &Events{cfg: cfg, names: namesOf(cfg.Cluster), js: js, log: cfg.Log}
	if err := ev.ensureStream(ctx); err != nil {
		return nil, err
	}
	return ev, nil
}

// ensureStream creates the stream, or adopts it as it is configured here
// (also after it was lost: a NATS server that restarted without its
// store).
func (ev *Events) ensureStream(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := ev.js.CreateOrUpdateStream(sctx, jetstream.StreamConfig{
		Name:        ev.names.stream,
		Description: "chargebridge: committed changes relayed from the database's event log",
		Subjects:    []string{ev.names.ev + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      ev.cfg.MaxAge,
		Duplicates:  ev.cfg.Duplicates,
	})
	if err != nil {
		return fmt.Errorf("NATS stream %s: %w (does the NATS server run JetStream? start it with -js)", ev.names.stream, err)
	}
	return nil
}

// Publish appends e to the store's event log, from which the relay
// publishes it to the stream: an event goes through the outbox like every
// other, never straight to NATS.
func (ev *Events) Publish(ctx context.Context, e charging.Event) error {
	return ev.cfg.Store.Publish(ctx, e)
}

// wireEvent is an event on the stream.
type wireEvent struct {
	ID        string          `json:"id"`
	Kind      string          `json:"kind"`
	At        time.Time       `json:"at"`
	ChargerID string          `json:"charger_id,omitempty"`
	SessionID string          `json:"session_id,omitempty"`
	Seq       int64           `json:"seq,omitempty"`
	Body      json.RawMessage `json:"body,omitempty"`
}

func encodeEvent(e charging.Event) ([]byte, error) {
	body, err := eventlog.EncodeBody(e)
	if err != nil {
		return nil, err
	}
	return json.Marshal(wireEvent{ID: e.ID, Kind: string(e.Kind), At: e.At, ChargerID: e.ChargerID, SessionID: e.SessionID, Seq: e.Seq, Body: body})
}

func decodeEvent(data []byte) (charging.Event, error) {
	var w wireEvent
	if err := json.Unmarshal(data, &w); err != nil {
		return charging.Event{}, fmt.Errorf("decode event: %w", err)
	}
	if w.ID == "" || w.Kind == "" {
		return charging.Event{}, errors.New("decode event: no id or kind")
	}
	e := charging.Event{ID: w.ID, Kind: charging.EventKind(w.Kind), At: w.At, ChargerID: w.ChargerID, SessionID: w.SessionID, Seq: w.Seq}
	if len(w.Body) > 0 {
		if err := eventlog.DecodeBody(w.Body, &e); err != nil {
			return charging.Event{}, err
		}
	}
	return e, nil
}

// eventSubject is the subject of e: <cluster>.ev.<kind>.<session, else
// charger, else tariff>, each a token (Token).
func (ev *Events) eventSubject(e charging.Event) string {
	key := e.SessionID
	if key == "" {
		key = e.ChargerID
	}
	if key == "" {
		key = e.TariffID
	}
	return ev.names.ev + Token(string(e.Kind)) + "." + Token(key)
}

// Token makes s one NATS subject token, one to one: letters, digits, -
// and _ stay, every other byte becomes =XX; "" becomes "=".
func Token(s string) string {
	if s == "" {
		return "="
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if nodeIDChar(c) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

// Relay publishes the store's event log to the stream until ctx ends. With
// a Leader it relays only while this node leads; without, always (see the
// package's note on relays).
func (ev *Events) Relay(ctx context.Context) error {
	if ev.cfg.Leader == nil {
		return ev.relay(ctx)
	}
	for {
		ok, err := ev.cfg.Leader.Lead(ctx, relayLeaderJob)
		if err != nil && ctx.Err() == nil {
			ev.log.Warn("cluster: cannot tell whether this node relays events; asking again", "err", err)
		}
		if ok {
			ev.log.Info("cluster: this node relays the event log to NATS")
			if err := ev.relayWhileLeading(ctx); ctx.Err() != nil {
				return ctx.Err()
			} else if err != nil {
				ev.log.Warn("cluster: the event relay stopped", "err", err)
			}
		}
		if !charging.Sleep(ctx, ev.cfg.LeadCheck) {
			return ctx.Err()
		}
	}
}

// relayWhileLeading relays until ctx ends or the node no longer leads.
func (ev *Events) relayWhileLeading(ctx context.Context) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ev.relay(rctx) }()
	t := time.NewTicker(ev.cfg.LeadCheck)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-t.C:
			if ok, err := ev.cfg.Leader.Lead(ctx, relayLeaderJob); !ok || err != nil {
				ev.log.Info("cluster: this node no longer relays the event log", "err", err)
				cancel()
				<-done
				return nil
			}
		}
	}
}

func (ev *Events) relay(ctx context.Context) error {
	return ev.cfg.Store.Consume(ctx, RelayConsumer, func(ctx context.Context, e charging.Event) error {
		_, err := ev.publish(ctx, e)
		return err
	})
}

// publish puts e on the stream and waits for the stream's acknowledgement;
// duplicate reports that the stream already had e.ID.
func (ev *Events) publish(ctx context.Context, e charging.Event) (duplicate bool, err error) {
	data, err := encodeEvent(e)
	if err != nil {
		return false, err
	}
	pctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	ack, err := ev.js.PublishMsg(pctx, &nats.Msg{Subject: ev.eventSubject(e), Data: data}, jetstream.WithMsgID(e.ID))
	if err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			// The stream is gone (a NATS server without its store): make it
			// again, and the event is published at the retry.
			if serr := ev.ensureStream(ctx); serr != nil {
				err = errors.Join(err, serr)
			}
		}
		return false, fmt.Errorf("relay %s event %s to NATS: %w", e.Kind, e.ID, err)
	}
	return ack.Duplicate, nil
}

// Consume delivers the stream's events to h (charging.EventPort). A
// durable name is one JetStream consumer shared by every node: each event
// goes to one node, one at a time in stream order (MaxAckPending 1, as the
// store's log delivers them), is acknowledged when h returns nil and
// delivered again after a backoff when h fails. The node reports progress
// while h runs, so a slow handler keeps its event, and a node that dies
// holding one loses it to another node after AckWait. name "" is an
// ordered consumer on this node of the events published from now on.
func (ev *Events) Consume(ctx context.Context, name string, h func(context.Context, charging.Event) error) error {
	if name == "" {
		return ev.consumeNew(ctx, h)
	}
	if err := validConsumerName(name); err != nil {
		return err
	}
	cons, err := ev.durable(ctx, name)
	if err != nil {
		return err
	}
	// The store's log no longer serves name: its saved position there
	// (from before the node joined a cluster) would hold back pruning.
	if f, ok := ev.cfg.Store.(forgetter); ok {
		if err := f.ForgetConsumer(ctx, name); err != nil && ctx.Err() == nil {
			ev.log.Warn("cluster: the store's position of a consumer that moved to NATS is kept", "consumer", name, "err", err)
		}
	}
	for {
		msg, err := next(ctx, cons)
		if ctx.Err() != nil {
			if msg != nil {
				_ = msg.Nak() // to another node at once
			}
			return ctx.Err()
		}
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				continue
			}
			ev.log.Warn("cluster: fetching events failed; retrying", "consumer", name, "err", err)
			if !charging.Sleep(ctx, time.Second) {
				return ctx.Err()
			}
			if lost(err) {
				if cons, err = ev.durable(ctx, name); err != nil {
					return err
				}
			}
			continue
		}
		if err := ev.handle(ctx, name, msg, h); err != nil {
			return err
		}
	}
}

// lost reports whether a fetch failed because the consumer or its stream
// is gone, so that it must be made again.
func lost(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, nats.ErrNoResponders)
}

// durable creates (or adopts) the durable consumer name, and the stream
// when it is gone, retrying until ctx ends.
func (ev *Events) durable(ctx context.Context, name string) (jetstream.Consumer, error) {
	for {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		c, err := ev.js.CreateOrUpdateConsumer(cctx, ev.names.stream, jetstream.ConsumerConfig{
			Durable:       name,
			Description:   "chargebridge event consumer " + name,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       ev.cfg.AckWait,
			MaxAckPending: 1,
			MaxDeliver:    -1,
		})
		cancel()
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		ev.log.Warn("cluster: cannot create the event consumer; retrying", "consumer", name, "err", err)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			if err := ev.ensureStream(ctx); err != nil {
				ev.log.Warn("cluster: cannot create the event stream; retrying", "err", err)
			}
		}
		if !charging.Sleep(ctx, time.Second) {
			return nil, ctx.Err()
		}
	}
}

// forgetter is a store that can drop a durable consumer's position (the
// PostgreSQL store).
type forgetter interface {
	ForgetConsumer(ctx context.Context, name string) error
}

// next fetches one message, waiting at most fetchWait.
func next(ctx context.Context, c jetstream.Consumer) (jetstream.Msg, error) {
	fctx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	return c.Next(jetstream.FetchContext(fctx))
}

// handle runs h on msg and acknowledges it; it returns only ctx's error.
func (ev *Events) handle(ctx context.Context, name string, msg jetstream.Msg, h func(context.Context, charging.Event) error) error {
	md, err := msg.Metadata()
	if err != nil {
		ev.log.Error("cluster: an event message without metadata; dropped", "consumer", name, "err", err)
		_ = msg.Term()
		return nil
	}
	e, err := decodeEvent(msg.Data())
	if err != nil {
		ev.log.Error("cluster: an event message that does not decode; dropped", "consumer", name, "seq", md.Sequence.Stream, "err", err)
		_ = msg.Term()
		return nil
	}
	e.Pos = int64(md.Sequence.Stream)
	stop := keepAlive(msg, ev.cfg.AckWait/3)
	err = h(ctx, e)
	stop()
	if err == nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
		defer cancel()
		if aerr := msg.DoubleAck(actx); aerr != nil {
			// Not acknowledged: it comes again, to a handler that must
			// tell a repeat (charging.EventPort).
			ev.log.Warn("cluster: acknowledging an event failed; it will be delivered again", "consumer", name, "event", e.ID, "err", aerr)
		}
		return nil
	}
	if ctx.Err() != nil {
		_ = msg.Nak()
		return ctx.Err()
	}
	wait := ev.cfg.Backoff
	for i := uint64(1); i < md.NumDelivered && wait < ev.cfg.MaxBackoff; i++ {
		wait *= 2
	}
	wait = min(wait, ev.cfg.MaxBackoff)
	ev.log.Warn("event handler failed; redelivering after a backoff", "consumer", name, "event", e.ID,
		"kind", e.Kind, "attempt", md.NumDelivered, "retry_in", wait, "err", err)
	if nerr := msg.NakWithDelay(wait); nerr != nil {
		ev.log.Warn("cluster: refusing an event failed; it comes again after the ack wait", "consumer", name, "event", e.ID, "err", nerr)
	}
	return nil
}

// keepAlive tells JetStream every period that msg is being worked on,
// until stop is called.
func keepAlive(msg jetstream.Msg, period time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// consumeNew is Consume(ctx, "", h): this node's ordered consumer of the
// events published from now on. A failing handler is retried here after a
// backoff, as the store's ephemeral consumers do.
func (ev *Events) consumeNew(ctx context.Context, h func(context.Context, charging.Event) error) error {
	var cons jetstream.Consumer
	for {
		if cons == nil {
			// One reset attempt per fetch: the library's default retries
			// for ever, inside Next, deaf to ctx, so a node whose NATS went
			// away could not stop. A consumer that failed is made again
			// here, where ctx is heard.
			c, err := ev.js.OrderedConsumer(ctx, ev.names.stream, jetstream.OrderedConsumerConfig{
				DeliverPolicy: jetstream.DeliverNewPolicy, MaxResetAttempts: 1})
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				ev.log.Warn("cluster: cannot create the live event consumer; retrying", "err", err)
				if !charging.Sleep(ctx, time.Second) {
					return ctx.Err()
				}
				continue
			}
			cons = c
		}
		msg, err := next(ctx, cons)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
				ev.log.Warn("cluster: fetching live events failed; making the consumer again", "err", err)
				cons = nil
				if !charging.Sleep(ctx, time.Second) {
					return ctx.Err()
				}
			}
			continue
		}
		e, err := decodeEvent(msg.Data())
		if err != nil {
			ev.log.Error("cluster: an event message that does not decode; skipped", "err", err)
			continue
		}
		if md, err := msg.Metadata(); err == nil {
			e.Pos = int64(md.Sequence.Stream)
		}
		for wait := ev.cfg.Backoff; ; wait = min(2*wait, ev.cfg.MaxBackoff) {
			err := h(ctx, e)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			ev.log.Warn("event handler failed; redelivering after a backoff", "consumer", "", "event", e.ID, "kind", e.Kind, "retry_in", wait, "err", err)
			if !charging.Sleep(ctx, wait) {
				return ctx.Err()
			}
		}
	}
}

// validConsumerName checks that name can name a JetStream durable
// consumer.
func validConsumerName(name string) error {
	if strings.ContainsAny(name, ".*> \t\r\n/\\") || len(name) > 200 {
		return fmt.Errorf("event consumer name %q: no dots, wildcards, slashes or spaces", name)
	}
	return nil
}

// ConsumerLag is how far a durable consumer is behind the stream.
type ConsumerLag struct {
	Name string `json:"name"`
	// Pending is how many events it has not been delivered yet;
	// AckPending how many it holds unacknowledged.
	Pending    uint64 `json:"pending"`
	AckPending int    `json:"ack_pending"`
}

// Lag lists the stream's durable consumers and their lag.
func (ev *Events) Lag(ctx context.Context) ([]ConsumerLag, error) {
	st, err := ev.js.Stream(ctx, ev.names.stream)
	if err != nil {
		return nil, fmt.Errorf("event stream: %w", err)
	}
	var out []ConsumerLag
	l := st.ListConsumers(ctx)
	for ci := range l.Info() {
		if ci.Config.Durable == "" {
			continue
		}
		out = append(out, ConsumerLag{Name: ci.Name, Pending: ci.NumPending, AckPending: ci.NumAckPending})
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("event consumers: %w", err)
	}
	return out, nil
}
