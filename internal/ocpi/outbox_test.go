package ocpi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// flatTariff is a one-component tariff whose price marks its version.
func flatTariff(t testing.TB, id, price string) tariff.Tariff {
	tr, err := tariff.ParseTariff([]byte(`{"country_code":"NL","party_id":"CBR","id":"` + id + `","currency":"EUR",
	 "elements":[{"price_components":[{"type":"ENERGY","price":` + price + `,"step_size":1}]}],"last_updated":"2026-01-01T00:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	return *tr
}

// chargeOnce runs one session over a raw OCPP connection: boot, start,
// meter values, stop.
func chargeOnce(t testing.TB, s *cbtest.Server, charger string) {
	t.Helper()
	c := s.MustDial(charger)
	defer c.Close()
	c.MustCall("BootNotification", map[string]any{"chargePointVendor": "Acme", "chargePointModel": "AC22"}, nil)
	c.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Charging"}, nil)
	var start struct {
		TransactionID int64 `json:"transactionId"`
	}
	now := time.Now().UTC()
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": now.Format(time.RFC3339Nano)}, &start)
	c.MustCall("MeterValues", map[string]any{"connectorId": 1, "transactionId": start.TransactionID, "meterValue": []any{
		map[string]any{"timestamp": now.Add(time.Minute).Format(time.RFC3339), "sampledValue": []any{map[string]any{"value": "5000"}}}}}, nil)
	c.MustCall("StopTransaction", map[string]any{"transactionId": start.TransactionID, "meterStop": 9000, "timestamp": now.Add(2 * time.Minute).Format(time.RFC3339), "reason": "Local"}, nil)
	c.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Available"}, nil)
}

// tariffPrices returns the prices of the pushed PUTs of a tariff, in the
// order they arrived, and whether a DELETE came last.
func tariffPrices(e *emsp, id string) (prices []string, deleted bool) {
	for _, p := range pushesTo(e, "", "/tariffs/NL/CBR/"+id) {
		if p.Method == http.MethodDelete {
			deleted = true
			continue
		}
		deleted = false
		var tr tariff.Tariff
		_ = json.Unmarshal(p.Body, &tr)
		pr := tr.Elements[0].PriceComponents[0].Price.String()
		if n := len(prices); n == 0 || prices[n-1] != pr { // at least once: a repeat is allowed
			prices = append(prices, pr)
		}
	}
	return prices, deleted
}

func TestOutboxSurvivesOutageAndRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cb.db")
	opts := []cbtest.Option{}
	s := startCPOWithDB(t, db, opts...)
	e := newEMSP(t)
	e.register(s)
	ctx := context.Background()

	e.setDown(true)
	for i, p := range []string{"0.1", "0.2", "0.3"} {
		putTariff(t, s, flatTariff(t, "T1", p))
		putTariff(t, s, flatTariff(t, "T2", p))
		// The pusher reads the catalog when it handles a change: let it
		// queue this version before the next replaces it.
		waitQueued(t, s, "DE-EMS", "tariff T1", i+1)
		waitQueued(t, s, "DE-EMS", "tariff T2", i+1)
	}
	chargeOnce(t, s, "CP-OUT")
	waitFor(t, "pushes to queue up", func() bool {
		n, _ := s.OCPI().Pending(ctx, "DE-EMS")
		return n >= 6+3 // 6 tariff PUTs, location, session PUT, ..., CDR
	})
	// The CDR is issued (queued, then kept) before the stop: a stop in
	// between would have it issued again after the restart, which at
	// least once delivery allows but this test counts.
	waitFor(t, "the CDR issued", func() bool { return len(pullAll(t, e, s.URL()+"/ocpi/2.2.1/cdrs")) == 1 })
	waitFor(t, "several failed attempts with backoff", func() bool { return e.droppedCount() >= 3 })
	if got := len(e.pushes()); got != 0 {
		t.Fatalf("%d pushes arrived while the eMSP was down", got)
	}

	// Restart while the eMSP is still down; more changes meanwhile.
	s.Stop()
	s = startCPOWithDB(t, db, opts...)
	putTariff(t, s, flatTariff(t, "T1", "0.4"))
	if err := s.Catalog().DeleteTariff(ctx, "T2"); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, s, "DE-EMS", "tariff T1", 4)
	waitQueued(t, s, "DE-EMS", "tariff T2", 4)
	// The restarted outbox tries (and fails) before the eMSP is back.
	tried := e.droppedCount()
	waitFor(t, "a failed attempt after the restart", func() bool { return e.droppedCount() > tried })
	e.setDown(false)
	waitFor(t, "the outbox to drain", func() bool {
		n, _ := s.OCPI().Pending(ctx, "")
		return n == 0
	})

	if p, _ := tariffPrices(e, "T1"); strings.Join(p, ",") != "0.1,0.2,0.3,0.4" {
		t.Fatalf("T1 arrived as %v; want 0.1,0.2,0.3,0.4 in order", p)
	}
	if p, deleted := tariffPrices(e, "T2"); strings.Join(p, ",") != "0.1,0.2,0.3" || !deleted {
		t.Fatalf("T2 arrived as %v deleted %v; want 0.1,0.2,0.3 then DELETE", p, deleted)
	}
	sess := pushesTo(e, "", "/sessions/NL/CBR/")
	if len(sess) == 0 || sess[0].Method != http.MethodPut {
		t.Fatalf("session pushes %v; want a PUT first", sess)
	}
	var last map[string]any
	_ = json.Unmarshal(sess[len(sess)-1].Body, &last)
	if last["status"] != "COMPLETED" {
		t.Fatalf("last session push %s; want status COMPLETED", sess[len(sess)-1].Body)
	}
	if n := len(pushesTo(e, http.MethodPost, "/cdrs")); n != 1 {
		t.Fatalf("%d CDRs; want 1", n)
	}
}

func TestRefusedPushIsDroppedAndQueueGoesOn(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	e.register(s)
	e.mu.Lock()
	e.refuse = func(method, path string) int {
		if strings.HasSuffix(path, "/tariffs/NL/CBR/BAD") {
			return http.StatusBadRequest
		}
		return 0
	}
	e.mu.Unlock()
	ctx := context.Background()
	putTariff(t, s, flatTariff(t, "BAD", "1"))
	putTariff(t, s, flatTariff(t, "GOOD", "1"))
	waitFor(t, "GOOD after BAD was given up", func() bool { return len(pushesTo(e, http.MethodPut, "/tariffs/NL/CBR/GOOD")) == 1 })
	// The eMSP has GOOD before the outbox deletes its entry: wait for that
	// (a push still pending for good would keep the queue from emptying).
	waitFor(t, "an empty outbox", func() bool {
		n, err := s.OCPI().Pending(ctx, "")
		return err == nil && n == 0
	})
	if !strings.Contains(s.Logs.String(), "push refused by the party; dropped") {
		t.Fatal("no log line for the dropped push")
	}
}

// putTariff stores a tariff the operator's way (the catalog), which
// announces the change; the tariff pusher queues its push.
func putTariff(t testing.TB, s *cbtest.Server, tr tariff.Tariff) {
	t.Helper()
	tr.LastUpdated = tariff.DateTime{}
	if _, err := s.Catalog().PutTariff(context.Background(), &tr); err != nil {
		t.Fatal(err)
	}
}

func startCPOWithDB(t testing.TB, db string, opts ...cbtest.Option) *cbtest.Server {
	t.Helper()
	return cbtest.StartWithDB(t, db, append(cpoOptions(), opts...)...)
}

// TestOutboxAgeFollowsTheClock: a push waiting for an eMSP that is down is
// dated by the server's clock, the one the alerts page and /metrics measure
// its age against (not the machine's).
func TestOutboxAgeFollowsTheClock(t *testing.T) {
	at := time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)
	s := startCPO(t, cbtest.WithClock(cbtest.NewClock(at)))
	e := newEMSP(t)
	e.register(s)
	ctx := context.Background()
	e.setDown(true)
	putTariff(t, s, flatTariff(t, "T1", "0.1"))
	waitFor(t, "the tariff push to queue up", func() bool {
		n, _ := s.OCPI().Pending(ctx, "DE-EMS")
		return n >= 1
	})
	stats, err := s.OCPI().OutboxStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stats {
		if st.Peer != "DE-EMS" {
			continue
		}
		if st.Oldest.Before(at) || st.Oldest.After(at.Add(time.Second)) {
			t.Fatalf("oldest push dated %v; want the server's clock, %v", st.Oldest, at)
		}
		return
	}
	t.Fatalf("no outbox for DE-EMS in %+v", stats)
}
