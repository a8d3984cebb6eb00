package beckn

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// failOnce is a DocStore whose first PutDoc of a kind fails, as a node
// dying right before that write would leave it.
type failOnce struct {
	charging.DocStore
	mu     sync.Mutex
	kind   string
	failed bool
}

func (f *failOnce) PutDoc(ctx context.Context, d charging.Doc) error {
	f.mu.Lock()
	fail := d.Kind == f.kind && !f.failed
	if fail {
		f.failed = true
	}
	f.mu.Unlock()
	if fail {
		return errors.New("the node died here")
	}
	return f.DocStore.PutDoc(ctx, d)
}

// TestNotifyIsNeverLostAndRepeatsUnderOneMessageID: an unsolicited
// callback whose handling stops between keeping the callback and storing
// the order (or before keeping it) is made again when the event comes
// again; the BAP gets it, and only ever under one message id.
func TestNotifyIsNeverLostAndRepeatsUnderOneMessageID(t *testing.T) {
	for _, kind := range []string{docPendingCallback, DocOrder} {
		t.Run(kind, func(t *testing.T) {
			b, _ := newTestBPP(t)
			var mu sync.Mutex
			got := map[string]int{}
			bap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var cb struct {
					Context Context `json:"context"`
				}
				_ = json.NewDecoder(r.Body).Decode(&cb)
				mu.Lock()
				got[cb.Context.MessageID]++
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"message":{"ack":{"status":"ACK"}}}`))
			}))
			defer bap.Close()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			b.send.start(ctx, &wg)
			defer func() { cancel(); wg.Wait() }()

			r := &record{ID: "order-1", TransactionID: "tx-1", BapID: "bap.test", BapURI: bap.URL, ItemID: "CP-1-1", ChargerID: "CP-1",
				ConnectorID: 1, Currency: "EUR", Status: OrderInProgress, Notified: "ACTIVE", Created: time.Now()}
			if err := b.save(ctx, r); err != nil {
				t.Fatal(err)
			}
			idx, _ := json.Marshal(map[string]string{"order_id": r.ID})
			if err := b.docs.PutDoc(ctx, charging.Doc{Kind: DocOrderSession, ID: "session-1", Owner: r.ID, Body: idx, Updated: time.Now()}); err != nil {
				t.Fatal(err)
			}
			b.docs = &failOnce{DocStore: b.docs, kind: kind}
			s := charging.Session{ID: "session-1", ChargerID: "CP-1", ConnectorID: 1, Status: charging.SessionCompleted}
			if err := b.notify(ctx, s); err == nil {
				t.Fatal("notify succeeded though a write failed; want an error (the event comes again)")
			}
			// The event comes again.
			if err := b.notify(ctx, s); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, n, err := b.docs.ListDocs(ctx, charging.DocQuery{Kind: docPendingCallback, Limit: 1})
				if err == nil && n == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the callback was not delivered in 10s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 {
				t.Errorf("the BAP got the completion under %d message ids (%v); want exactly one", len(got), got)
			}
		})
	}
}
