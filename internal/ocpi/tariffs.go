package ocpi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// The Tariffs module has one source: the operator's catalog
// (Config.Catalog, the pricing package's kind "tariff" documents). The
// pull serves the catalog as it is; pushes follow its changes, which the
// catalog announces as charging.TariffChanged events: a TariffPusher, a
// durable consumer of the store's event port, turns each into a PUT of the
// tariff as it is when the event is handled, or a DELETE when it is gone,
// queued in the outbox for every eMSP. There is no copy of our own and no
// poll: a change is pushed as soon as it is announced, and one announced
// while the pusher did not run (a restart, `chargebridge tariffs add` on
// the database) when it runs again. Every tariff carries our country code
// and party id, whatever the operator stored.

// TariffConsumer is the TariffPusher's durable consumer name on the event
// port: its position says which tariff changes are queued for eMSPs.
const TariffConsumer = "ocpi-tariffs"

// TariffPusher pushes the catalog's tariff changes to every eMSP.
type TariffPusher struct {
	c      *CPO
	events charging.EventPort
}

// TariffPusher returns the component that pushes tariff changes read from
// events; it does nothing until Run.
func (c *CPO) TariffPusher(events charging.EventPort) *TariffPusher {
	return &TariffPusher{c: c, events: events}
}

// tariffRetry bounds the wait before the pusher reads the event log again
// after it failed to (the store's own redelivery backs off handlers).
const tariffRetry = 30 * time.Second

// Run pushes tariff changes until ctx is done, then returns ctx's error.
// Delivery is at least once: after a crash between queueing a push and
// acknowledging its event, the tariff is pushed again (PUT and DELETE are
// idempotent).
func (p *TariffPusher) Run(ctx context.Context) error {
	wait := time.Second
	for {
		err := p.events.Consume(ctx, TariffConsumer, p.handle)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.c.log.Error("ocpi: reading tariff changes failed; retrying", "consumer", TariffConsumer, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, tariffRetry)
	}
}

// handle queues the push of the tariff a TariffChanged event names, as the
// catalog has it now; other events are not the pusher's.
func (p *TariffPusher) handle(ctx context.Context, e charging.Event) error {
	if e.Kind != charging.TariffChanged || e.TariffID == "" {
		return nil
	}
	return p.c.pushTariff(ctx, e.TariffID)
}

// pushTariff queues a PUT of tariff id to every eMSP, or a DELETE when the
// catalog has it no more.
func (c *CPO) pushTariff(ctx context.Context, id string) error {
	if c.cfg.Catalog == nil {
		return nil
	}
	t, err := c.cfg.Catalog.Tariff(ctx, id)
	if errors.Is(err, charging.ErrNotFound) {
		return c.pushAll(ctx, "tariffs", "tariff "+id, http.MethodDelete, c.objectPath(id), nil)
	}
	if err != nil {
		return err
	}
	b, err := c.ourTariff(t)
	if err != nil {
		return err
	}
	return c.pushAll(ctx, "tariffs", "tariff "+id, http.MethodPut, c.objectPath(id), b)
}

// ourTariff is a catalog tariff as we publish it: under our country code
// and party id.
func (c *CPO) ourTariff(t *tariff.Tariff) (json.RawMessage, error) {
	cp := *t
	cp.CountryCode, cp.PartyID = c.cfg.Party.CountryCode, c.cfg.Party.PartyID
	b, err := json.Marshal(cp)
	if err != nil {
		return nil, fmt.Errorf("encode tariff %s: %w", t.ID, err)
	}
	return b, nil
}

// objectPath is the receiver path of one of our objects: /{country_code}/{party_id}/{id}.
func (c *CPO) objectPath(id string) string {
	return "/" + c.cfg.Party.CountryCode + "/" + c.cfg.Party.PartyID + "/" + id
}

// getTariffs serves the Tariffs pull from the catalog, paginated and
// filtered on last_updated.
func (c *CPO) getTariffs(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage(r.URL.Query())
	if err != nil {
		return err
	}
	items := []json.RawMessage{}
	if c.cfg.Catalog == nil {
		c.writePage(w, r, p, 0, items)
		return nil
	}
	q := pricing.TariffQuery{From: p.From, To: p.To, Offset: p.Offset, Limit: p.Limit}
	if p.Limit == 0 {
		q.Limit = 1 // the count only
	}
	ts, total, err := c.cfg.Catalog.TariffPage(r.Context(), q)
	if err != nil {
		return err
	}
	if p.Limit == 0 {
		ts = nil
	}
	for _, t := range ts {
		b, err := c.ourTariff(t)
		if err != nil {
			return err
		}
		items = append(items, b)
	}
	c.writePage(w, r, p, total, items)
	return nil
}

// listDocPage serves a paginated GET of documents of a kind, filtered on
// Updated (the object's last_updated).
func (c *CPO) listDocPage(w http.ResponseWriter, r *http.Request, kind string) error {
	p, err := parsePage(r.URL.Query())
	if err != nil {
		return err
	}
	q := charging.DocQuery{Kind: kind, From: p.From, To: p.To, Offset: p.Offset, Limit: p.Limit}
	if p.After != nil {
		q.After, q.Offset = p.After, 0
	}
	var docs []charging.Doc
	var total int
	if p.Limit == 0 {
		q.Limit = 1 // the count only
		_, total, err = c.docs.ListDocs(r.Context(), q)
	} else {
		docs, total, err = c.docs.ListDocs(r.Context(), q)
	}
	if err != nil {
		return err
	}
	items := make([]json.RawMessage, 0, len(docs))
	for _, d := range docs {
		items = append(items, d.Body)
	}
	if len(docs) > 0 {
		last := docs[len(docs)-1].Position()
		p.NextAfter = &last
	}
	c.writePage(w, r, p, total, items)
	return nil
}
