package ocpi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// A CDR is POSTed to each eMSP once. Its push carries the CDR's id
// (push.Once), and:
//
//   - once the eMSP accepted it, a record (kind docSent, per party and
//     id) is written before the push is deleted, and a push of an id
//     the party has a record of is dropped unsent. So a CDR queued twice
//     (the node that issued it died between queueing it and storing it,
//     and the event was handled again elsewhere) or left in the queue
//     after it was delivered (the node died before deleting it) is not
//     sent again.
//   - before each POST the push is marked Sending, durably. A push found
//     marked was being sent when its sender died or lost the queue, and
//     the eMSP may have it: the next sender asks the eMSP first, with a
//     GET of the CDR's URL in the eMSP's system (OCPI 2.2.1 lets the
//     eMSP choose it and return it as the POST's Location). Our guess of
//     that URL is the Location of the party's earlier CDRs with the id
//     replaced, when those ended with the CDR's id. The eMSP has it (200
//     with the CDR): recorded, not sent; 404: sent; no answer (down):
//     asked again after a backoff.
//
// So the one case where an eMSP gets a CDR twice is a sender dying (or
// losing its lease) between the eMSP taking the POST and the answer being
// recorded, for an eMSP whose earlier CDR Locations did not end with the
// CDR's id or that does not answer GET on them: the CDR is then sent again
// with the same id (OCPI's CDR ids are unique per party, so the eMSP can
// tell it has it), and this is logged.

// docSent records that a party accepted the POST of an object (ID: party
// and object id); docCDRURL keeps what a party's CDR URLs start with (ID:
// the party).
const (
	docSent   = "ocpi_sent"
	docCDRURL = "ocpi_cdr_url"
)

func sentID(peer, id string) string { return peer + " " + id }

// hasOnce reports whether the party has e's object already: it was
// recorded delivered, or e was being sent when its sender stopped and the
// party says it has it. An error means it cannot be told now.
func (o *outbox) hasOnce(ctx context.Context, p *Peer, e push) (bool, error) {
	if _, err := o.c.docs.GetDoc(ctx, docSent, sentID(e.Peer, e.Once)); err == nil {
		o.c.log.Info("ocpi outbox: the party has this object already; this copy is dropped", "peer", e.Peer, "object", e.Object)
		return true, nil
	} else if !errors.Is(err, charging.ErrNotFound) {
		return false, err
	}
	if !e.Sending {
		return false, nil
	}
	prefix, err := o.cdrURL(ctx, e.Peer)
	if err != nil {
		return false, err
	}
	if prefix == "" {
		o.c.log.Warn("ocpi outbox: a POST was cut off and the party cannot be asked whether it got it (its CDR URLs do not end with the CDR id); sent again with the same id",
			"peer", e.Peer, "object", e.Object)
		return false, nil
	}
	data, _, err := o.c.call(ctx, p, p.TheirToken, http.MethodGet, prefix+url.PathEscape(e.Once), nil)
	var ce *callError
	switch {
	case err == nil:
		var got struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(data, &got) == nil && got.ID == e.Once {
			o.c.log.Info("ocpi outbox: a POST was cut off, and the party has the object: not sent again", "peer", e.Peer, "object", e.Object)
			return true, o.markDelivered(ctx, e)
		}
		o.c.log.Warn("ocpi outbox: a POST was cut off and the party's answer to GET is not the object; sent again with the same id", "peer", e.Peer, "object", e.Object)
		return false, nil
	case errors.As(err, &ce) && ce.HTTP == http.StatusNotFound:
		return false, nil
	case retryable(err):
		return false, err
	default:
		o.c.log.Warn("ocpi outbox: a POST was cut off and the party does not say whether it got it; sent again with the same id", "peer", e.Peer, "object", e.Object, "err", err)
		return false, nil
	}
}

// markDelivered records that the party accepted e's object.
func (o *outbox) markDelivered(ctx context.Context, e push) error {
	return o.c.docs.PutDoc(ctx, charging.Doc{Kind: docSent, ID: sentID(e.Peer, e.Once), Owner: e.Peer, Body: []byte("{}"), Updated: o.c.now()})
}

// learnCDRURL keeps what the party's CDR URLs start with, from the
// Location it answered e's POST with, when that ends with the CDR's id.
func (o *outbox) learnCDRURL(ctx context.Context, e push, loc string) {
	if e.Module != "cdrs" || !strings.HasSuffix(loc, "/"+url.PathEscape(e.Once)) {
		return
	}
	prefix := strings.TrimSuffix(loc, url.PathEscape(e.Once))
	o.mu.Lock()
	known := o.cdrURLs[e.Peer] == prefix
	o.cdrURLs[e.Peer] = prefix
	o.mu.Unlock()
	if known {
		return
	}
	b, _ := json.Marshal(struct {
		Prefix string `json:"prefix"`
	}{prefix})
	if err := o.c.docs.PutDoc(ctx, charging.Doc{Kind: docCDRURL, ID: e.Peer, Owner: e.Peer, Body: b, Updated: o.c.now()}); err != nil && ctx.Err() == nil {
		o.c.log.Warn("ocpi outbox: the party's CDR URL form not kept", "peer", e.Peer, "err", err)
	}
}

// cdrURL returns what the party's CDR URLs start with ("" when not known).
func (o *outbox) cdrURL(ctx context.Context, peer string) (string, error) {
	o.mu.Lock()
	prefix, ok := o.cdrURLs[peer]
	o.mu.Unlock()
	if ok {
		return prefix, nil
	}
	d, err := o.c.docs.GetDoc(ctx, docCDRURL, peer)
	if errors.Is(err, charging.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var v struct {
		Prefix string `json:"prefix"`
	}
	if err := json.Unmarshal(d.Body, &v); err != nil {
		return "", nil
	}
	o.mu.Lock()
	o.cdrURLs[peer] = v.Prefix
	o.mu.Unlock()
	return v.Prefix, nil
}
