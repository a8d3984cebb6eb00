package ocpi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// PushView is an outbox entry as the operator sees it.
type PushView struct {
	// ID names the push within its party's outbox.
	ID        string    `json:"id"`
	Object    string    `json:"object"`
	Method    string    `json:"method"`
	Module    string    `json:"module,omitempty"`
	Created   time.Time `json:"created"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
}

// Pushes returns the first pushes waiting for a party, oldest (the one
// being tried) first, and how many wait in all.
func (c *CPO) Pushes(ctx context.Context, peer string, limit int) ([]PushView, int, error) {
	docs, n, err := c.docs.ListDocs(ctx, charging.DocQuery{Kind: docOutbox, Owner: peer, Limit: limit})
	if err != nil {
		return nil, 0, fmt.Errorf("pushes to %s: %w", peer, err)
	}
	out := make([]PushView, 0, len(docs))
	for _, d := range docs {
		var e push
		if err := json.Unmarshal(d.Body, &e); err != nil {
			out = append(out, PushView{ID: strings.TrimPrefix(d.ID, peer+"/"), Object: "unreadable entry", LastError: err.Error()})
			continue
		}
		out = append(out, PushView{ID: strings.TrimPrefix(d.ID, peer+"/"), Object: e.Object, Method: e.Method, Module: e.Module, Created: e.Created, Attempts: e.Attempts, LastError: e.LastError})
	}
	return out, n, nil
}

// RetryNow makes the party's outbox try its waiting push at once rather
// than at the end of its backoff.
func (c *CPO) RetryNow(ctx context.Context, peer string) error {
	if _, err := c.peers.get(ctx, peer); err != nil {
		return fmt.Errorf("retry pushes to %s: %w", peer, err)
	}
	c.out.kick(peer)
	return nil
}

// DropPush gives up one waiting push (the party will not get it; counted
// as dropped). ErrNotFound when the party has no such push.
func (c *CPO) DropPush(ctx context.Context, peer, pushID string) error {
	id := peer + "/" + pushID
	d, err := c.docs.GetDoc(ctx, docOutbox, id)
	if err == nil && d.Owner != peer {
		err = charging.ErrNotFound
	}
	if err == nil {
		err = c.docs.DeleteDoc(ctx, docOutbox, id)
	}
	if err != nil {
		return fmt.Errorf("drop push %s: %w", id, err)
	}
	c.out.dropped.Add(1)
	c.log.Warn("push dropped by an operator", "peer", peer, "id", id)
	c.out.kick(peer)
	return nil
}
