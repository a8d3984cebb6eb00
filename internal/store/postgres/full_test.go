package postgres

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
	"github.com/chargebridge/chargebridge/internal/store/storetest"
)

func openFull(t *testing.T) charging.FullStore { return openTest(t).(*Store) }

func TestFullStore(t *testing.T) {
	pgtest.URL(t)
	storetest.RunFull(t, openFull)
}

var ft0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func fstart(charger string, connector int, tag string, n int) charging.StartSession {
	at := ft0.Add(time.Duration(n) * time.Second)
	return charging.StartSession{ID: fmt.Sprintf("s-%s-%d-%d", charger, connector, n), StartKey: fmt.Sprintf("%s|%d|%s|%d", charger, connector, tag, n),
		ChargerID: charger, ConnectorID: connector, IDTag: tag, Status: charging.SessionActive, StartedAt: at, ReceivedAt: at}
}

func fpending(id, charger string, connector int, tag string) charging.Session {
	exp := ft0.Add(time.Minute)
	return charging.Session{ID: id, ChargerID: charger, ConnectorID: connector, IDTag: tag, Status: charging.SessionPending,
		StartedAt: ft0, ExpiresAt: &exp, LastUpdated: ft0}
}

// Remote starts on connector 0 for several tags wait side by side, and a
// start on a connector with a remote start for another tag leaves it to
// expire instead of closing it.
func TestWaitingSessionsCoexist(t *testing.T) {
	st := openFull(t)
	ctx := t.Context()
	for _, p := range []charging.Session{fpending("p-a", "CP", 0, "A"), fpending("p-b", "CP", 0, "B"), fpending("p-c", "CP", 1, "C")} {
		if err := st.CreateSession(ctx, p); err != nil {
			t.Fatalf("create %s: %v", p.ID, err)
		}
	}
	got, created, err := st.StartSession(ctx, fstart("CP", 1, "Z", 1))
	if err != nil || !created || got.ID != "s-CP-1-1" {
		t.Fatalf("start of Z = %+v, created %v, %v; want a new session", got, created, err)
	}
	for _, id := range []string{"p-a", "p-b", "p-c"} {
		if s, err := st.GetSession(ctx, id); err != nil || s.Status != charging.SessionPending || s.TransactionID != "" {
			t.Errorf("%s = %+v, %v; want still pending without a transaction", id, s, err)
		}
	}
	// The remote start of B is taken over, then a retry returns it.
	b, created, err := st.StartSession(ctx, fstart("CP", 2, "B", 2))
	if err != nil || !created || b.ID != "p-b" || b.ConnectorID != 2 || b.ExpiresAt != nil {
		t.Fatalf("start of B = %+v, created %v, %v; want p-b taken over on connector 2", b, created, err)
	}
	again, created, err := st.StartSession(ctx, fstart("CP", 2, "B", 2))
	if err != nil || created || again.ID != "p-b" || again.TransactionID != b.TransactionID {
		t.Fatalf("retry = %+v, created %v, %v; want p-b with transaction %s", again, created, err, b.TransactionID)
	}
}

// Starts on every connector of a charger, by two stores on one database
// (two server processes), all want the one remote start on connector 0:
// exactly one gets it, and no transaction id is handed out twice.
func TestConcurrentTakeover(t *testing.T) {
	st := openFull(t).(*Store)
	other, err := Open(t.Context(), schemaOf(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := t.Context()
	for round := range 10 {
		charger := fmt.Sprintf("CP-%d", round)
		if err := st.CreateSession(ctx, fpending("p-"+charger, charger, 0, "T")); err != nil {
			t.Fatal(err)
		}
		const n = 8
		got := make([]charging.Session, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			s := st
			if i%2 == 1 {
				s = other
			}
			wg.Go(func() { got[i], _, errs[i] = s.StartSession(ctx, fstart(charger, i+1, "T", round)) })
		}
		wg.Wait()
		took := 0
		txs := map[string]bool{}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("start on connector %d: %v", i+1, errs[i])
			}
			if got[i].ID == "p-"+charger {
				took++
			}
			if got[i].TransactionID == "" || txs[got[i].TransactionID] {
				t.Fatalf("connector %d got transaction %s; want a new one", i+1, got[i].TransactionID)
			}
			txs[got[i].TransactionID] = true
		}
		if took != 1 {
			t.Fatalf("round %d: %d starts took the remote start over; want 1", round, took)
		}
	}
}

// schemaOf returns the URL of t's schema, as openTest opened it.
func schemaOf(t *testing.T) string {
	dsn, ok := schemas.Load(t)
	if !ok {
		t.Fatal("no schema for the test")
	}
	return dsn.(string)
}

// A document without a time sorts first and falls inside any window that
// has no lower bound; a nil body reads back empty.
func TestDocZeroTime(t *testing.T) {
	st := openFull(t)
	ctx := t.Context()
	for _, d := range []charging.Doc{{Kind: "k", ID: "b", Body: []byte(`1`), Updated: ft0}, {Kind: "k", ID: "a"}} {
		if err := st.PutDoc(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.GetDoc(ctx, "k", "a")
	if err != nil || !got.Updated.IsZero() || len(got.Body) != 0 {
		t.Fatalf("get a = %+v, %v; want no time, empty body", got, err)
	}
	for _, tt := range []struct {
		name string
		q    charging.DocQuery
		want string
	}{
		{"oldest-first", charging.DocQuery{Kind: "k"}, "a b "},
		{"newest-first", charging.DocQuery{Kind: "k", Newest: true}, "b a "},
		{"before", charging.DocQuery{Kind: "k", To: ft0}, "a "},
		{"from", charging.DocQuery{Kind: "k", From: ft0}, "b "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ds, total, err := st.ListDocs(ctx, tt.q)
			ids := ""
			for _, d := range ds {
				ids += d.ID + " "
			}
			if err != nil || ids != tt.want || total != len(ds) {
				t.Errorf("got %q (total %d), %v; want %q", ids, total, err, tt.want)
			}
		})
	}
}
