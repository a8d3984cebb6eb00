package security

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// DocKindSeen is the document kind of a charger's last authentication
// (id = charger id): when, from where, at which profile. It is kept apart
// from the security record (DocKind) so that it can be written blindly,
// in batches and after the handshake, without reading the record first
// and without ever overwriting a password or profile the API set
// meanwhile on any node.
const DocKindSeen = "charger_last_auth"

// lastAuth is the body of a DocKindSeen document.
type lastAuth struct {
	At      time.Time `json:"at"`
	Remote  string    `json:"remote"`
	Profile int       `json:"profile"`
}

// seenEntry is a last authentication not yet written; recorded says the
// charger has a security record (so it is no made-up id).
type seenEntry struct {
	lastAuth
	recorded bool
}

// Bounds of the last authentications waiting to be written: a flush at
// least every seenFlushEvery, or as soon as seenKickAt wait; past
// seenMaxPending (the store is away) new ones are dropped, as a crash
// would drop them: they are bookkeeping, not what decides a connection.
const (
	seenFlushEvery = time.Second
	seenKickAt     = 2000
	seenMaxPending = 200_000
	seenWriteChunk = 1000
)

// noteAuth queues a successful authentication's bookkeeping for the
// writer (Run).
func (g *Guard) noteAuth(id string, la lastAuth, recorded bool) {
	g.seenMu.Lock()
	prev, had := g.seen[id]
	if had || len(g.seen) < seenMaxPending {
		g.seen[id] = seenEntry{lastAuth: la, recorded: recorded || prev.recorded}
	}
	n := len(g.seen)
	g.seenMu.Unlock()
	if n >= seenKickAt {
		select {
		case g.kick <- struct{}{}:
		default:
		}
	}
}

// pendingSeen returns the last authentication of a charger this node has
// not written yet.
func (g *Guard) pendingSeen(id string) (lastAuth, bool) {
	g.seenMu.Lock()
	defer g.seenMu.Unlock()
	e, ok := g.seen[id]
	return e.lastAuth, ok
}

// Run writes the chargers' last authentications in batches until ctx is
// done, then writes what is left (for at most five seconds) and waits for
// the record reads in flight. The server runs it for as long as it
// serves chargers.
func (g *Guard) Run(ctx context.Context) error {
	defer func() {
		if g.loader != nil {
			g.loader.b.Wait()
		}
	}()
	t := time.NewTicker(seenFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := g.flushSeen(fctx); err != nil {
				g.cfg.Log.Warn("last authentications not written at shutdown", "err", err)
			}
			return nil
		case <-t.C:
		case <-g.kick:
		}
		if err := g.flushSeen(ctx); err != nil && ctx.Err() == nil {
			if ok, held := g.logs.Allow("\x00seen", g.cfg.Now()); ok {
				g.cfg.Log.Warn("last authentications not written; retried", "err", err, "held_back_lines", held)
			}
		}
	}
}

// flushSeen writes the last authentications waiting, those of chargers
// with no security record only if they are registered (a spray of
// made-up ids at profile 0 must not fill the store). On failure they wait
// for the next flush, unless a newer one came meanwhile.
func (g *Guard) flushSeen(ctx context.Context) error {
	g.seenMu.Lock()
	batch := g.seen
	if len(batch) == 0 {
		g.seenMu.Unlock()
		return nil
	}
	g.seen = make(map[string]seenEntry)
	g.seenMu.Unlock()
	if g.cfg.Docs == nil {
		return nil
	}
	var ask []string
	for id, e := range batch {
		if !e.recorded {
			ask = append(ask, id)
		}
	}
	if len(ask) > 0 {
		known, err := g.knownMany(ctx, ask)
		if err != nil {
			g.requeueSeen(batch)
			return err
		}
		for _, id := range ask {
			if !known[id] {
				delete(batch, id)
			}
		}
	}
	ds := make([]charging.Doc, 0, len(batch))
	for id, e := range batch {
		b, err := json.Marshal(e.lastAuth)
		if err != nil {
			return err
		}
		ds = append(ds, charging.Doc{Kind: DocKindSeen, ID: id, Owner: id, Body: b, Updated: e.At})
	}
	var err error
	if bd, ok := g.cfg.Docs.(BatchDocs); ok {
		for i := 0; i < len(ds) && err == nil; i += seenWriteChunk {
			err = bd.PutDocs(ctx, ds[i:min(i+seenWriteChunk, len(ds))])
		}
	} else {
		for _, d := range ds {
			if err = g.cfg.Docs.PutDoc(ctx, d); err != nil {
				break
			}
		}
	}
	if err != nil {
		g.requeueSeen(batch)
		return fmt.Errorf("write %d last authentications: %w", len(ds), err)
	}
	return nil
}

func (g *Guard) requeueSeen(batch map[string]seenEntry) {
	g.seenMu.Lock()
	defer g.seenMu.Unlock()
	for id, e := range batch {
		if _, newer := g.seen[id]; !newer && len(g.seen) < seenMaxPending {
			g.seen[id] = e
		}
	}
}

// knownMany returns which of ids are registered chargers: one query with
// KnownMany, else Known each (nil Known: all of them).
func (g *Guard) knownMany(ctx context.Context, ids []string) (map[string]bool, error) {
	if g.cfg.KnownMany != nil {
		return g.cfg.KnownMany(ctx, ids)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = g.cfg.Known == nil || g.cfg.Known(ctx, id)
	}
	return out, nil
}

// withSeen is r with the last authentication la, when la is newer than
// the one r holds (records written before DocKindSeen existed hold it).
func withSeen(r Record, la lastAuth) Record {
	if la.At.IsZero() || (r.LastAuthAt != nil && !la.At.After(*r.LastAuthAt)) {
		return r
	}
	t := la.At
	r.LastAuthAt, r.LastAuthRemote, r.LastAuthProfile = &t, la.Remote, la.Profile
	return r
}

// seenOf returns a charger's last authentication: this node's not yet
// written, else the stored one.
func (g *Guard) seenOf(ctx context.Context, id string) (lastAuth, error) {
	if la, ok := g.pendingSeen(id); ok {
		return la, nil
	}
	if g.cfg.Docs == nil {
		return lastAuth{}, nil
	}
	d, err := g.cfg.Docs.GetDoc(ctx, DocKindSeen, id)
	if errors.Is(err, charging.ErrNotFound) {
		return lastAuth{}, nil
	}
	if err != nil {
		return lastAuth{}, fmt.Errorf("last authentication of %s: %w", id, err)
	}
	var la lastAuth
	if err := json.Unmarshal(d.Body, &la); err != nil {
		return lastAuth{}, fmt.Errorf("last authentication of %s: %w", id, err)
	}
	return la, nil
}

// listSeen returns every charger's last authentication, stored or
// waiting on this node.
func (g *Guard) listSeen(ctx context.Context) (map[string]lastAuth, error) {
	out := map[string]lastAuth{}
	if g.cfg.Docs != nil {
		var after *charging.DocPosition
		for {
			ds, _, err := g.cfg.Docs.ListDocs(ctx, charging.DocQuery{Kind: DocKindSeen, After: after, Limit: 1000})
			if err != nil {
				return nil, fmt.Errorf("list last authentications: %w", err)
			}
			for _, d := range ds {
				var la lastAuth
				if json.Unmarshal(d.Body, &la) == nil {
					out[d.ID] = la
				}
			}
			if len(ds) < 1000 {
				break
			}
			p := ds[len(ds)-1].Position()
			after = &p
		}
	}
	g.seenMu.Lock()
	pending := maps.Clone(g.seen)
	g.seenMu.Unlock()
	for id, e := range pending {
		out[id] = e.lastAuth
	}
	return out, nil
}
