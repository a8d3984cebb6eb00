package ocpi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// The catalog (tariffs, their assignment to connectors, chargers' sites)
// is the operator's and changes through the operator API, which does not
// tell us. runSync compares it with what was last pushed every
// SyncInterval: a new or changed tariff is PUT to every eMSP, a removed
// one DELETEd, and a charger whose site or connector tariffs changed has
// its Location PUT again.

// sitePushed is a charger's site and connector tariffs as last pushed
// (kind ocpi_site).
type sitePushed struct {
	Updated time.Time        `json:"updated"`
	Tariffs map[int][]string `json:"tariffs,omitempty"`
}

func (c *CPO) runSync(ctx context.Context) {
	t := time.NewTicker(c.cfg.SyncInterval)
	defer t.Stop()
	for {
		if err := c.Sync(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("ocpi: tariffs and locations not synchronized", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sync publishes the catalog's changes now (runSync calls it
// periodically).
func (c *CPO) Sync(ctx context.Context) error {
	if c.cfg.Catalog == nil {
		return nil
	}
	return errors.Join(c.syncTariffs(ctx), c.syncSites(ctx))
}

func (c *CPO) syncTariffs(ctx context.Context) error {
	ts, err := c.cfg.Catalog.Tariffs(ctx)
	if err != nil {
		return err
	}
	docs, _, err := c.docs.ListDocs(ctx, charging.DocQuery{Kind: docTariff})
	if err != nil {
		return err
	}
	published := map[string][]byte{}
	for _, d := range docs {
		published[d.ID] = d.Body
	}
	var errs []error
	for _, t := range ts {
		cp := *t
		cp.CountryCode, cp.PartyID = c.cfg.Party.CountryCode, c.cfg.Party.PartyID
		b, err := json.Marshal(cp)
		if err != nil {
			return err
		}
		old, ok := published[t.ID]
		delete(published, t.ID)
		if ok && bytes.Equal(old, b) {
			continue
		}
		if _, err := c.putTariff(ctx, cp); err != nil {
			errs = append(errs, err)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(published)) {
		if err := c.deleteTariff(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *CPO) syncSites(ctx context.Context) error {
	chs, err := c.store.ListChargers(ctx)
	if err != nil {
		return err
	}
	for _, ch := range chs {
		li, err := c.locationInfo(ctx, ch.ID)
		if err != nil {
			return err
		}
		tids, err := c.connectorTariffs(ctx, ch)
		if err != nil {
			return err
		}
		now := sitePushed{Updated: li.Updated, Tariffs: tids}
		var last sitePushed
		d, err := c.docs.GetDoc(ctx, docSite, ch.ID)
		switch {
		case err == nil:
			_ = json.Unmarshal(d.Body, &last)
		case errors.Is(err, charging.ErrNotFound):
			if li.Updated.IsZero() && len(tids) == 0 {
				continue // nothing set by the operator yet
			}
		default:
			return err
		}
		if d.ID != "" && last.Updated.Equal(now.Updated) && equalTariffs(last.Tariffs, now.Tariffs) {
			continue
		}
		loc := c.LocationView(ch, li, tids)
		if err := c.pushAll(ctx, "locations", "location "+ch.ID, http.MethodPut, c.objectPath(ch.ID), loc); err != nil {
			return err
		}
		b, _ := json.Marshal(now)
		if err := c.docs.PutDoc(ctx, charging.Doc{Kind: docSite, ID: ch.ID, Owner: ch.ID, Body: b, Updated: c.now()}); err != nil {
			return err
		}
	}
	return nil
}

func equalTariffs(a, b map[int][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
