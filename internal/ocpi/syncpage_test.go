package ocpi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/store/postgres"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// countedGets is a store that counts its one-document reads.
type countedGets struct {
	*postgres.Store
	gets atomic.Int64
}

func (c *countedGets) GetDoc(ctx context.Context, kind, id string) (charging.Doc, error) {
	c.gets.Add(1)
	return c.Store.GetDoc(ctx, kind, id)
}

// TestSyncReadsAPageAtOnce: the periodic Locations sync reads what each
// page of chargers' Locations are made of (locations, tariff assignments,
// tariffs, what was published) in a few statements per page, not several
// reads per charger (at 100 000 chargers a round with nothing changed was
// some 700 000 reads on the elected node, every 30 s), and records the
// same: each connector's tariff as TariffFor picks it, the operator's
// location.
func TestSyncReadsAPageAtOnce(t *testing.T) {
	ctx := t.Context()
	pg, err := postgres.Open(ctx, pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	st := &countedGets{Store: pg}
	const n = siteMembersPage + 7
	id := func(i int) string { return fmt.Sprintf("CP-%05d", i) }
	for i := range n {
		if err := st.CreateCharger(ctx, charging.Charger{ID: id(i), CreatedAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		for conn := 1; conn <= 2; conn++ {
			if _, _, err := st.SetConnectorStatus(ctx, charging.Connector{ChargerID: id(i), ConnectorID: conn, Status: "Available", UpdatedAt: time.Now().UTC()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	cat := pricing.NewCatalog(st, st, charging.SystemClock{}, nil)
	for _, tid := range []string{"DEF", "FAST"} {
		tr, err := tariff.ParseTariff([]byte(`{"country_code":"NL","party_id":"CBR","id":"` + tid + `","currency":"EUR",
		 "elements":[{"price_components":[{"type":"ENERGY","price":1,"step_size":1}]}],"last_updated":"2026-01-01T00:00:00Z"}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cat.PutTariff(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []pricing.Assignment{{Default: true, TariffID: "DEF"}, {ChargerID: id(1), ConnectorID: 2, TariffID: "FAST"}, {ChargerID: id(n - 1), TariffID: "FAST"}} {
		if _, err := cat.Assign(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	loc, err := cat.SetLocation(ctx, pricing.Location{ChargerID: id(2), Name: "Depot"})
	if err != nil {
		t.Fatal(err)
	}
	svc := charging.NewService(st, charging.SystemClock{}, slog.New(slog.DiscardHandler), charging.Config{})
	c, err := New(svc, nil, nil, slog.New(slog.DiscardHandler), Config{
		Party: Party{CountryCode: "NL", PartyID: "CBR"}, PublicURL: "http://127.0.0.1:1", SyncInterval: time.Hour, Catalog: cat,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first round publishes every charger (each publication reads
	// what its Location is made of); the next, with nothing changed,
	// only compares.
	if err := c.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	first, err := pg.GetDoc(ctx, docSite, id(n-1))
	if err != nil {
		t.Fatalf("the Location of %s was not published: %v", id(n-1), err)
	}
	st.gets.Store(0)
	if err := c.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got := st.gets.Load(); got > 10 {
		t.Errorf("a round over %d unchanged chargers read %d documents one at a time; want a few statements per page", n, got)
	}
	if again, _ := pg.GetDoc(ctx, docSite, id(n-1)); !again.Updated.Equal(first.Updated) {
		t.Errorf("%s published again with nothing changed", id(n-1))
	}
	for _, i := range []int{0, 1, 2, siteMembersPage, n - 1} {
		d, err := pg.GetDoc(ctx, docSite, id(i))
		if err != nil {
			t.Fatalf("the Location of %s was not published: %v", id(i), err)
		}
		var got sitePushed
		if err := json.Unmarshal(d.Body, &got); err != nil {
			t.Fatal(err)
		}
		for conn := 1; conn <= 2; conn++ {
			want, _, err := cat.TariffFor(ctx, id(i), conn)
			if err != nil {
				t.Fatal(err)
			}
			if ts := got.Tariffs[conn]; len(ts) != 1 || ts[0] != want.ID {
				t.Errorf("%s connector %d published with tariffs %v; TariffFor says %s", id(i), conn, ts, want.ID)
			}
		}
		if i == 2 && !got.Updated.Equal(loc.UpdatedAt) {
			t.Errorf("%s published with its location of %v; want the operator's of %v", id(i), got.Updated, loc.UpdatedAt)
		}
	}
}
