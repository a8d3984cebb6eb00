package ocpi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// waitQueued waits until at least n pushes about object ("tariff T1")
// wait in a party's outbox (the party is down, so none is delivered).
func waitQueued(t testing.TB, s *cbtest.Server, peer, object string, n int) {
	t.Helper()
	waitFor(t, object+" queued for "+peer, func() bool {
		ps, _, err := s.OCPI().Pushes(context.Background(), peer, 1000)
		if err != nil {
			return false
		}
		got := 0
		for _, p := range ps {
			if p.Object == object {
				got++
			}
		}
		return got >= n
	})
}

// ourTariffs is what the pull must return for the catalog's tariffs: each
// under our party, ordered by last_updated then id.
func ourTariffs(t testing.TB, s *cbtest.Server) []string {
	t.Helper()
	ts, _, err := s.Catalog().TariffPage(context.Background(), pricing.TariffQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tr := range ts {
		tr.CountryCode, tr.PartyID = "NL", "CBR"
		b, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func pulledTariffs(t testing.TB, e *emsp, s *cbtest.Server) []string {
	t.Helper()
	var out []string
	for _, b := range pullAll(t, e, s.URL()+"/ocpi/2.2.1/tariffs") {
		out = append(out, string(b))
	}
	return out
}

// TestTariffChangesArePushedAtOnce: an operator's change to the catalog
// reaches the eMSP as a PUT (or DELETE) without any Sync (the periodic
// one runs hourly in these tests), and the pull serves the catalog as it
// is, right after the change, under our party.
func TestTariffChangesArePushedAtOnce(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	e.register(s)
	ctx := context.Background()

	first := flatTariff(t, "T1", "1")
	first.CountryCode, first.PartyID = "BE", "XYZ" // published under ours whatever is stored
	putTariff(t, s, first)
	waitFor(t, "T1 at 1", func() bool { p, _ := tariffPrices(e, "T1"); return strings.Join(p, ",") == "1" })
	var pushed tariff.Tariff
	if err := json.Unmarshal(pushesTo(e, http.MethodPut, "/tariffs/NL/CBR/T1")[0].Body, &pushed); err != nil {
		t.Fatal(err)
	}
	if pushed.CountryCode != "NL" || pushed.PartyID != "CBR" {
		t.Fatalf("pushed T1 under %s/%s; want NL/CBR", pushed.CountryCode, pushed.PartyID)
	}

	putTariff(t, s, flatTariff(t, "T1", "2"))
	putTariff(t, s, flatTariff(t, "T2", "5"))
	// The pull reads the catalog: the change is there before any push.
	want := ourTariffs(t, s)
	if got := pulledTariffs(t, e, s); len(want) != 2 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("pulled\n%s\nwant the catalog's\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	waitFor(t, "T1 at 1 then 2", func() bool { p, _ := tariffPrices(e, "T1"); return strings.Join(p, ",") == "1,2" })
	waitFor(t, "T2 at 5", func() bool { p, _ := tariffPrices(e, "T2"); return strings.Join(p, ",") == "5" })

	if err := s.Catalog().DeleteTariff(ctx, "T1"); err != nil {
		t.Fatal(err)
	}
	if got := pulledTariffs(t, e, s); len(got) != 1 || !strings.Contains(got[0], `"id":"T2"`) {
		t.Fatalf("pulled %v after T1 was deleted; want T2 only", got)
	}
	waitFor(t, "T1 deleted at the eMSP", func() bool { _, deleted := tariffPrices(e, "T1"); return deleted })
	if _, deleted := tariffPrices(e, "T2"); deleted {
		t.Fatal("T2 was deleted at the eMSP; only T1 was deleted in the catalog")
	}
	if strings.Contains(s.Logs.String(), "level=ERROR") {
		t.Fatalf("errors logged:\n%s", s.Logs.String())
	}
}

// TestTariffChangeWhileStoppedIsPushedAfterRestart: a change announced
// while the server did not run (chargebridge tariffs add/delete on the
// database) is pushed when it starts again, and the changes it had pushed
// before are not pushed again: the pusher resumes from its position.
func TestTariffChangeWhileStoppedIsPushedAfterRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cb.db")
	s := startCPOWithDB(t, db)
	e := newEMSP(t)
	e.register(s)
	putTariff(t, s, flatTariff(t, "OLD", "1"))
	waitFor(t, "OLD pushed", func() bool { p, _ := tariffPrices(e, "OLD"); return len(p) == 1 })
	waitDrained(t, s)
	s.Stop()

	// The CLI's way: the catalog on the database, announcing its changes.
	ctx := context.Background()
	st, err := server.OpenStore(ctx, "sqlite:"+db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := charging.NewService(st, charging.SystemClock{}, slog.New(slog.DiscardHandler), charging.Config{}).Docs()
	if err != nil {
		t.Fatal(err)
	}
	cat := pricing.NewCatalog(docs, st, charging.SystemClock{}, nil)
	ep, ok := st.(charging.EventPort)
	if !ok {
		t.Fatal("the SQLite store has no event port")
	}
	cat.AnnounceTo(ep)
	nw := flatTariff(t, "NEW", "3")
	nw.LastUpdated = tariff.DateTime{}
	if _, err := cat.PutTariff(ctx, &nw); err != nil {
		t.Fatal(err)
	}
	if err := cat.DeleteTariff(ctx, "OLD"); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	s = startCPOWithDB(t, db)
	// A change after the restart marks the end: events are handled in
	// order and each party's pushes are delivered in order, so when it
	// arrives everything before it has.
	putTariff(t, s, flatTariff(t, "MARK", "9"))
	waitFor(t, "MARK pushed", func() bool { p, _ := tariffPrices(e, "MARK"); return len(p) == 1 })
	var got []string
	for _, p := range pushesTo(e, "", "/tariffs/NL/CBR/") {
		got = append(got, p.Method+" "+strings.TrimPrefix(p.Path, "/tariffs/NL/CBR/"))
	}
	// Exactly once each: a clean stop keeps the position of the last
	// change handled, so nothing is pushed again.
	if want := "PUT OLD,PUT NEW,DELETE OLD,PUT MARK"; strings.Join(got, ",") != want {
		t.Fatalf("tariff pushes %s; want %s", strings.Join(got, ","), want)
	}
}
