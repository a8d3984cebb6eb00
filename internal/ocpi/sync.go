package ocpi

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// Chargers' sites and connector tariffs (the catalog's locations and
// assignments) change through the operator API, which does not tell us.
// runSync compares them with what was last pushed every SyncInterval: a
// charger whose site or connector tariffs changed has its Location PUT
// again. (Tariffs themselves are not polled: their changes are events,
// see TariffPusher.)

// sitePushed is a charger's site and connector tariffs as last pushed
// (kind ocpi_site).
type sitePushed struct {
	Updated time.Time        `json:"updated"`
	Tariffs map[int][]string `json:"tariffs,omitempty"`
	// Plugs are the plugs its chargers described ("evse/connector" →
	// plug, "+cable" for a fixed cable), which give the connectors'
	// standards: a station describes them in its device model after its
	// first boot, often after its Location was first pushed.
	Plugs map[string]string `json:"plugs,omitempty"`
}

// plugsOf is a charger's described plugs (sitePushed.Plugs).
func plugsOf(ch charging.Charger) map[string]string {
	var out map[string]string
	for _, e := range ch.Connectors {
		for _, k := range e.EVSEConnectors {
			if k.Plug == "" {
				continue
			}
			if out == nil {
				out = map[string]string{}
			}
			v := string(k.Plug)
			if k.Cable {
				v += "+cable"
			}
			out[fmt.Sprintf("%d/%d", k.ConnectorID, k.EVSEConnectorID)] = v
		}
	}
	return out
}

// SyncJob is the charging.Elector job name of runSync.
const SyncJob = "ocpi sync"

// runSync runs Sync every SyncInterval. When the store is an Elector
// (nodes sharing a database) only the node that leads SyncJob does: two
// at once would both find a changed site and both PUT its Location.
func (c *CPO) runSync(ctx context.Context) {
	t := time.NewTicker(c.cfg.SyncInterval)
	defer t.Stop()
	el, _ := c.store.(charging.Elector)
	for {
		lead := true
		if el != nil {
			lead, _ = el.Lead(ctx, SyncJob)
		}
		if lead {
			if err := c.Sync(ctx); err != nil && ctx.Err() == nil {
				c.log.Error("ocpi: locations not synchronized", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sync publishes the changed sites, connector tariffs and described plugs
// now (runSync calls it periodically).
func (c *CPO) Sync(ctx context.Context) error {
	if c.cfg.Catalog == nil {
		return nil
	}
	return c.syncSites(ctx)
}

func (c *CPO) syncSites(ctx context.Context) error {
	// The fleet is read in keyset pages, never in one statement: at
	// 100 000 chargers the whole list outlasted PostgreSQL's statement
	// timeout, and no Location was published at all. What each page's
	// Locations are made of is read for the page at once (four
	// statements), not per charger: one read per charger, its location,
	// up to three per connector for its tariff and one for what was
	// published made a round at 100 000 chargers some 700 000 reads.
	for after := ""; ; {
		page, err := c.store.ListChargersAfter(ctx, after, siteMembersPage)
		if err != nil {
			return fmt.Errorf("list chargers after %q: %w", after, err)
		}
		if err := c.syncPage(ctx, page); err != nil {
			return err
		}
		if len(page) < siteMembersPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// syncPage publishes the Location of each of a page of chargers whose
// make-up (site, tariffs, plugs) changed since it was last published.
func (c *CPO) syncPage(ctx context.Context, page []charging.Charger) error {
	if len(page) == 0 {
		return nil
	}
	ids := make([]string, len(page))
	for i, ch := range page {
		ids[i] = ch.ID
	}
	locs, err := c.cfg.Catalog.LocationsOf(ctx, ids)
	if err != nil {
		return err
	}
	tariffs, err := c.cfg.Catalog.TariffsOf(ctx, page)
	if err != nil {
		return err
	}
	pushed, err := charging.GetDocs(ctx, c.docs, docSite, ids)
	if err != nil {
		return err
	}
	for _, ch := range page {
		d, published := pushed[ch.ID]
		if err := c.syncCharger(ctx, ch, locationInfoOf(locs[ch.ID]), tariffIDsOf(tariffs[ch.ID]), d, published); err != nil {
			return err
		}
	}
	return nil
}

// syncCharger publishes one charger's Location when what it is made of
// (li, its connectors' tariffs tids and its plugs) changed since it was
// last published (d, when published).
func (c *CPO) syncCharger(ctx context.Context, ch charging.Charger, li LocationInfo, tids map[int][]string, d charging.Doc, published bool) error {
	now := sitePushed{Updated: li.Updated, Tariffs: tids, Plugs: plugsOf(ch)}
	var last sitePushed
	if published {
		_ = json.Unmarshal(d.Body, &last)
	} else if li.Updated.IsZero() && len(tids) == 0 && len(now.Plugs) == 0 {
		return nil // nothing set by the operator (or described by the charger) yet
	}
	if published && last.Updated.Equal(now.Updated) && equalTariffs(last.Tariffs, now.Tariffs) && maps.Equal(last.Plugs, now.Plugs) {
		return nil
	}
	loc := c.LocationView(ch, li, tids)
	if err := c.pushAll(ctx, "locations", "location "+ch.ID, http.MethodPut, c.objectPath(ch.ID), loc); err != nil {
		return err
	}
	b, _ := json.Marshal(now)
	if err := c.docs.PutDoc(ctx, charging.Doc{Kind: docSite, ID: ch.ID, Owner: ch.ID, Body: b, Updated: c.now()}); err != nil {
		return err
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
