package ocpi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// Tariffs are published as documents (kind ocpi_tariff, id the tariff
// id, Updated its last_updated): the operator's tariffs (the catalog) as
// we last PUT them to eMSPs. A connector lists the tariff assigned to it
// in tariff_ids.

// putTariff publishes a tariff (new or changed): it is validated, takes
// our country code and party id and last_updated now, and is PUT to every
// eMSP.
func (c *CPO) putTariff(ctx context.Context, t tariff.Tariff) (tariff.Tariff, error) {
	t.CountryCode, t.PartyID = c.cfg.Party.CountryCode, c.cfg.Party.PartyID
	if t.LastUpdated.IsZero() {
		t.LastUpdated = tariff.DateTime{Time: c.now().Truncate(time.Second)}
	}
	if err := t.Validate(); err != nil {
		return tariff.Tariff{}, fmt.Errorf("%w: %v", charging.ErrInvalidInput, err)
	}
	b, err := json.Marshal(t)
	if err != nil {
		return tariff.Tariff{}, err
	}
	if err := c.docs.PutDoc(ctx, charging.Doc{Kind: docTariff, ID: t.ID, Body: b, Updated: t.LastUpdated.Time}); err != nil {
		return tariff.Tariff{}, err
	}
	return t, c.pushAll(ctx, "tariffs", "tariff "+t.ID, http.MethodPut, c.objectPath(t.ID), json.RawMessage(b))
}

// deleteTariff withdraws a tariff and DELETEs it at every eMSP.
func (c *CPO) deleteTariff(ctx context.Context, id string) error {
	if err := c.docs.DeleteDoc(ctx, docTariff, id); err != nil {
		return fmt.Errorf("delete tariff %s: %w", id, err)
	}
	return c.pushAll(ctx, "tariffs", "tariff "+id, http.MethodDelete, c.objectPath(id), nil)
}

// objectPath is the receiver path of one of our objects: /{country_code}/{party_id}/{id}.
func (c *CPO) objectPath(id string) string {
	return "/" + c.cfg.Party.CountryCode + "/" + c.cfg.Party.PartyID + "/" + id
}

// Tariff returns a published tariff.
func (c *CPO) Tariff(ctx context.Context, id string) (tariff.Tariff, error) {
	d, err := c.docs.GetDoc(ctx, docTariff, id)
	if err != nil {
		return tariff.Tariff{}, err
	}
	var t tariff.Tariff
	err = json.Unmarshal(d.Body, &t)
	return t, err
}

// listDocPage serves a paginated GET of documents of a kind, filtered on
// Updated (the object's last_updated).
func (c *CPO) listDocPage(w http.ResponseWriter, r *http.Request, kind string) error {
	p, err := parsePage(r.URL.Query())
	if err != nil {
		return err
	}
	q := charging.DocQuery{Kind: kind, From: p.From, To: p.To, Offset: p.Offset, Limit: p.Limit}
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
	c.writePage(w, r, p, total, items)
	return nil
}

func (c *CPO) getTariffs(w http.ResponseWriter, r *http.Request) error {
	return c.listDocPage(w, r, docTariff)
}
