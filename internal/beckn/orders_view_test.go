package beckn_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/web"
)

// TestOrdersForTheOperator: a BAP's confirmed order is listed by
// GET /api/v1/beckn/orders and the dashboard's /orders page with its
// state, BAP, linked session and the callbacks delivered.
func TestOrdersForTheOperator(t *testing.T) {
	x := start(t)
	orderID, _, _ := confirmOrder(t, x.bap, "EVSE-1-2")
	var out web.OrdersJSON
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code := x.s.GetJSON("/api/v1/beckn/orders", &out); code != http.StatusOK {
			t.Fatalf("GET /api/v1/beckn/orders: %d", code)
		}
		// on_init and on_confirm were delivered (counted once the BAP answered).
		if out.Callbacks.Delivered >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(out.Items) != 1 || out.Total != 1 {
		t.Fatalf("orders: %+v; want the one confirmed", out)
	}
	o := out.Items[0]
	if o.ID != orderID || o.Status != "CONFIRMED" || o.BapID != x.bap.id || o.ChargerID != "EVSE-1" || o.ConnectorID != 2 || o.SessionID == "" {
		t.Errorf("order: %+v; want %s CONFIRMED by %s on EVSE-1 #2 with its session", o, orderID, x.bap.id)
	}
	if out.Callbacks.Delivered < 2 || out.Callbacks.Failed != 0 {
		t.Errorf("callbacks: %+v; want on_init and on_confirm delivered, none failed", out.Callbacks)
	}
	resp, err := x.s.HTTP.Get(x.s.URL() + "/orders?status=CONFIRMED")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	for _, want := range []string{`data-order="` + orderID + `" data-status="CONFIRMED"`, `href="/sessions/` + o.SessionID + `"`, x.bap.id} {
		if !strings.Contains(page, want) {
			t.Errorf("/orders page lacks %q", want)
		}
	}
	resp, err = x.s.HTTP.Get(x.s.URL() + "/orders?status=COMPLETED")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), `data-order="`+orderID+`"`) {
		t.Errorf("/orders?status=COMPLETED lists the confirmed order")
	}
}
