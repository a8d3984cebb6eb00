package ocpi

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// countedSites are sites that count how often they are read.
type countedSites struct {
	sites fixedSites
	err   error
	reads atomic.Int32
}

func (c *countedSites) Sites(ctx context.Context) ([]Site, error) {
	c.reads.Add(1)
	if c.err != nil {
		return nil, c.err
	}
	return c.sites.Sites(ctx)
}

// TestLayoutIsReadOncePerMaxAge: the event worker asks for the layout on
// every event; the sites are read again only when a site changed on this
// node (SitesChanged, at once), when layoutMaxAge passed (changes made on
// another node), or for the periodic sync (syncLayout reads afresh).
func TestLayoutIsReadOncePerMaxAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sites := &countedSites{sites: fixedSites{{ID: "DEPOT", Chargers: []string{"CP-1"}}}}
		c := &CPO{cfg: Config{Sites: sites}}
		look := func(wantReads int32, wantLoc string) {
			t.Helper()
			l, err := c.layout(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got := sites.reads.Load(); got != wantReads {
				t.Fatalf("sites read %d times; want %d", got, wantReads)
			}
			if got := l.locationID("CP-1"); got != wantLoc {
				t.Fatalf("CP-1 is in Location %q; want %q", got, wantLoc)
			}
		}
		look(1, "DEPOT")
		for range 100 {
			look(1, "DEPOT")
		}
		time.Sleep(layoutMaxAge / 2)
		look(1, "DEPOT")

		// Changed on this node: seen at once.
		sites.sites = fixedSites{{ID: "YARD", Chargers: []string{"CP-1"}}}
		c.SitesChanged()
		look(2, "YARD")
		look(2, "YARD")

		// Changed elsewhere: seen once layoutMaxAge has passed.
		sites.sites = nil
		time.Sleep(layoutMaxAge - time.Nanosecond)
		look(2, "YARD")
		time.Sleep(time.Nanosecond)
		look(3, "CP-1")

		// The periodic sync reads afresh; a read that fails replaces
		// nothing.
		sites.err = errors.New("database is locked")
		if _, err := c.readLayout(t.Context()); err == nil {
			t.Fatal("readLayout: no error from sites that fail")
		}
		look(4, "CP-1")
	})
}
