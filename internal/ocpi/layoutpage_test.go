package ocpi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/store/postgres"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// noWholeList is a store whose list of every charger fails, as
// PostgreSQL's statement timeout made it fail at 100 000 chargers.
type noWholeList struct{ *postgres.Store }

func (noWholeList) ListChargers(context.Context) ([]charging.Charger, error) {
	return nil, errors.New("list chargers: canceling statement due to statement timeout")
}

type fixedSites []Site

func (f fixedSites) Sites(context.Context) ([]Site, error) { return f, nil }

// TestLayoutSyncReadsNoWholeFleet: publishing a change of the sites reads
// only the chargers a site has or had, never the whole fleet in one
// statement (the nodes of the 100 000-charger bench logged "locations of
// changed sites not pushed … statement timeout"); with many site members
// it pages through the chargers and finds every one.
func TestLayoutSyncReadsNoWholeFleet(t *testing.T) {
	for _, tt := range []struct {
		name    string
		members int
	}{
		{"few-site-members-read-one-by-one", 3},
		{"many-site-members-read-in-pages", 1007},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := postgres.Open(t.Context(), pgtest.Schema(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			site := Site{ID: "DEPOT", Name: "Depot", Updated: time.Now().UTC()}
			for i := range tt.members + 5 { // five chargers in no site
				id := fmt.Sprintf("CP-%05d", i)
				if err := st.CreateCharger(t.Context(), charging.Charger{ID: id, CreatedAt: time.Now().UTC()}); err != nil {
					t.Fatal(err)
				}
				if i < tt.members {
					site.Chargers = append(site.Chargers, id)
				}
			}
			svc := charging.NewService(noWholeList{st}, charging.SystemClock{}, slog.New(slog.DiscardHandler), charging.Config{})
			c, err := New(svc, nil, nil, slog.New(slog.DiscardHandler), Config{
				Party: Party{CountryCode: "NL", PartyID: "CBR"}, PublicURL: "http://127.0.0.1:1",
				SyncInterval: time.Hour, Sites: fixedSites{site},
			})
			if err != nil {
				t.Fatal(err)
			}
			es := &evState{lastPatch: map[txRef]time.Time{}, evse: map[string]EVSEStatus{}, locs: map[string]pushedEVSEs{}}
			if err := c.syncLayout(t.Context(), es); err != nil {
				t.Fatalf("syncLayout: %v", err)
			}
			pub, err := c.published(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got := pub.Sites["DEPOT"].Chargers; !slices.Equal(got, site.Chargers) {
				t.Fatalf("published site has %d chargers; want %d", len(got), len(site.Chargers))
			}
			if len(pub.Moved) != tt.members {
				t.Fatalf("%d chargers moved; want %d", len(pub.Moved), tt.members)
			}
		})
	}
}

// locatedCatalog is a tariff catalog with no tariffs in which every charger
// has a location set by the operator at updated.
type locatedCatalog struct{ updated time.Time }

func (locatedCatalog) Tariff(context.Context, string) (*tariff.Tariff, error) {
	return nil, charging.ErrNotFound
}
func (locatedCatalog) TariffPage(context.Context, pricing.TariffQuery) ([]*tariff.Tariff, int, error) {
	return nil, 0, nil
}
func (locatedCatalog) TariffFor(context.Context, string, int) (*tariff.Tariff, pricing.Assignment, error) {
	return nil, pricing.Assignment{}, charging.ErrNotFound
}
func (l locatedCatalog) Location(_ context.Context, id string) (pricing.Location, error) {
	return pricing.Location{ChargerID: id, Name: "Depot " + id, UpdatedAt: l.updated}, nil
}
func (locatedCatalog) TariffsOf(context.Context, []charging.Charger) (map[string]map[int]*tariff.Tariff, error) {
	return nil, nil
}
func (l locatedCatalog) LocationsOf(ctx context.Context, ids []string) (map[string]pricing.Location, error) {
	out := map[string]pricing.Location{}
	for _, id := range ids {
		out[id], _ = l.Location(ctx, id)
	}
	return out, nil
}

// TestSyncReadsTheFleetInPages: the periodic synchronization of Locations
// (tariffs, operator-set locations, plugs) pages through the chargers
// instead of listing every one in one statement, which at 100 000
// chargers hit PostgreSQL's statement timeout on every round ("ocpi:
// locations not synchronized"), so no changed Location was published; every
// charger of more than one page is published.
func TestSyncReadsTheFleetInPages(t *testing.T) {
	st, err := postgres.Open(t.Context(), pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const n = siteMembersPage + 7
	for i := range n {
		if err := st.CreateCharger(t.Context(), charging.Charger{ID: fmt.Sprintf("CP-%05d", i), CreatedAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
	}
	svc := charging.NewService(noWholeList{st}, charging.SystemClock{}, slog.New(slog.DiscardHandler), charging.Config{})
	c, err := New(svc, nil, nil, slog.New(slog.DiscardHandler), Config{
		Party: Party{CountryCode: "NL", PartyID: "CBR"}, PublicURL: "http://127.0.0.1:1",
		SyncInterval: time.Hour, Catalog: locatedCatalog{updated: time.Now().UTC().Truncate(time.Second)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(t.Context()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	for _, id := range []string{"CP-00000", fmt.Sprintf("CP-%05d", siteMembersPage-1), fmt.Sprintf("CP-%05d", n-1)} {
		if _, err := st.GetDoc(t.Context(), docSite, id); err != nil {
			t.Errorf("the Location of %s was not published: %v", id, err)
		}
	}
}
