package beckn

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// In a cluster, the kept callbacks of a node run that is gone are taken
// over and delivered by the node that leads the job; those of a live node
// (in flight there) are left alone.
func TestKeptCallbacksOfADeadNodeAreTakenOver(t *testing.T) {
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
	b.cfg.Owner = "run-b"
	b.cfg.Alive = func(context.Context) (map[string]bool, error) {
		return map[string]bool{"run-b": true, "run-c": true}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.send.start(ctx, &wg)
	defer func() { cancel(); wg.Wait() }()

	keep := func(id, owner string) {
		t.Helper()
		body, _ := json.Marshal(Callback{Context: Context{Action: "on_status", MessageID: id, TransactionID: "tx-" + id}})
		p := pendingCallback{URL: bap.URL + "/on_status", Action: "on_status", TxID: "tx-" + id, MsgID: id, Body: body,
			Deadline: time.Now().Add(time.Minute), Owner: owner}
		raw, _ := json.Marshal(p)
		if err := b.docs.PutDoc(ctx, charging.Doc{Kind: docPendingCallback, ID: id, Owner: p.TxID, Body: raw, Updated: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	keep("m-dead", "run-a") // its node is gone
	keep("m-live", "run-c") // in flight on a live node
	keep("m-mine", "run-b") // this node's own, in flight here
	if err := b.resendPending(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := b.docs.GetDoc(ctx, docPendingCallback, "m-dead")
		if err != nil {
			break // delivered and forgotten
		}
		if time.Now().After(deadline) {
			t.Fatal("the dead node's kept callback was not delivered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A second sweep takes nothing again.
	if err := b.resendPending(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got["m-dead"] != 1 || got["m-live"] != 0 || got["m-mine"] != 0 {
		t.Errorf("deliveries %v; want m-dead once and the live nodes' left alone", got)
	}
	for _, id := range []string{"m-live", "m-mine"} {
		if _, err := b.docs.GetDoc(ctx, docPendingCallback, id); err != nil {
			t.Errorf("%s: %v; want it still kept for its node", id, err)
		}
	}
}
