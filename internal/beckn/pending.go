package beckn

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// The callbacks a BAP did not ask for (a session that started, stopped or
// completed) are kept as documents until they are delivered or given up,
// so that one queued when the process dies is sent after it restarts: the
// event that caused it was acknowledged once the document was written.
// (Answers to a BAP's own requests are not kept: the BAP asks again.)
// Delivery is at least once: a restart resends what was in flight. In a
// cluster each kept callback names the node run that sends it (Owner), and
// the node leading KeptCallbacksJob takes over, every KeptSweep, those
// whose node is gone; a node that restarts is a new run, so its old ones
// are taken over the same way.

// docPendingCallback is the kind of a callback not yet delivered.
const docPendingCallback = "beckn_callback"

// KeptCallbacksJob is the charging.Elector job of taking over the kept
// callbacks of nodes that died; KeptSweep is how often its leader looks.
const (
	KeptCallbacksJob = "beckn kept callbacks"
	KeptSweep        = 15 * time.Second
)

// pendingCallback is a delivery as it is kept.
type pendingCallback struct {
	URL      string          `json:"url"`
	Action   string          `json:"action"`
	TxID     string          `json:"transaction_id"`
	MsgID    string          `json:"message_id"`
	Body     json.RawMessage `json:"body"`
	Deadline time.Time       `json:"deadline"`
	// Owner is the node run that sends it ("" on one node).
	Owner string `json:"owner,omitempty"`
}

// callbackKept is callback for an unsolicited message: the delivery is
// stored before it is queued and forgotten once it is delivered or given
// up.
func (b *BPP) callbackKept(ctx context.Context, reply Context, action, messageID string, msg any, deadline time.Time, log *slog.Logger) error {
	d, err := b.prepare(reply, action, messageID, msg, nil, deadline, log)
	if err != nil {
		return nil // logged: a bug, nothing to retry
	}
	p := pendingCallback{URL: d.url, Action: d.action, TxID: d.txID, MsgID: d.msgID, Body: d.body, Deadline: d.deadline, Owner: b.cfg.Owner}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := b.docs.PutDoc(ctx, charging.Doc{Kind: docPendingCallback, ID: d.msgID, Owner: d.txID, Body: body, Updated: b.clock.Now()}); err != nil {
		return err
	}
	b.send.enqueue(b.kept(d))
	return nil
}

// kept makes d forget its document once delivered or given up (not when
// delivery stops for a shutdown: it is sent after the restart).
func (b *BPP) kept(d *delivery) *delivery {
	d.done = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.docs.DeleteDoc(ctx, docPendingCallback, d.msgID); err != nil && !errors.Is(err, charging.ErrNotFound) {
			b.log.Warn("beckn: delivered callback not forgotten; it may be sent again after a restart", "message_id", d.msgID, "err", err)
		}
	}
	return d
}

// resendPending queues the kept callbacks a previous run left (on one
// node: all of them; in a cluster: those of node runs that are gone, when
// this node leads KeptCallbacksJob); those past their deadline are given
// up.
func (b *BPP) resendPending(ctx context.Context) error {
	orphan := func(string) bool { return true }
	if b.cfg.Alive != nil {
		if el, ok := b.core.Store().(charging.Elector); ok {
			if lead, err := el.Lead(ctx, KeptCallbacksJob); err != nil || !lead {
				return err
			}
		}
		alive, err := b.cfg.Alive(ctx)
		if err != nil {
			return err
		}
		orphan = func(owner string) bool { return owner != b.cfg.Owner && !alive[owner] }
	}
	seen := map[string]bool{}
	for {
		docs, _, err := b.docs.ListDocs(ctx, charging.DocQuery{Kind: docPendingCallback, Limit: 500})
		if err != nil {
			return err
		}
		fresh := 0
		for _, doc := range docs {
			if seen[doc.ID] {
				continue
			}
			seen[doc.ID] = true
			fresh++
			var p pendingCallback
			if json.Unmarshal(doc.Body, &p) != nil || !b.clock.Now().Before(p.Deadline) {
				b.log.Warn("beckn: a kept callback is past its deadline or unreadable; given up", "message_id", doc.ID)
				if err := b.docs.DeleteDoc(ctx, docPendingCallback, doc.ID); err != nil && !errors.Is(err, charging.ErrNotFound) {
					return err
				}
				b.send.failed.Add(1)
				continue
			}
			if !orphan(p.Owner) {
				continue
			}
			if b.cfg.Alive != nil {
				// Ours now: a later sweep must not take it again.
				p.Owner = b.cfg.Owner
				body, err := json.Marshal(p)
				if err != nil {
					return err
				}
				if err := b.docs.PutDoc(ctx, charging.Doc{Kind: docPendingCallback, ID: doc.ID, Owner: doc.Owner, Body: body, Updated: doc.Updated}); err != nil {
					return err
				}
			}
			b.log.Info("beckn: sending a callback its node did not deliver", "action", p.Action, "transaction_id", p.TxID, "message_id", p.MsgID)
			b.send.enqueue(b.kept(&delivery{url: p.URL, action: p.Action, txID: p.TxID, msgID: p.MsgID, body: p.Body, deadline: p.Deadline}))
		}
		if len(docs) < 500 || fresh == 0 {
			return nil
		}
	}
}

// sweepKept takes over, every KeptSweep, the kept callbacks of nodes that
// died (a cluster only) until ctx ends.
func (b *BPP) sweepKept(ctx context.Context) {
	for charging.Sleep(ctx, KeptSweep) {
		if err := b.resendPending(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("beckn: kept callbacks of other nodes not looked at; trying again", "err", err)
		}
	}
}
