package beckn_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chargebridge/chargebridge/internal/browsertest"
	"github.com/chargebridge/chargebridge/internal/web"
)

// TestOrdersForTheOperator: a BAP's confirmed order is listed by
// GET /api/v1/beckn/orders and the dashboard's /orders page with its
// state, BAP, linked session and the callbacks delivered.
func TestOrdersForTheOperator(t *testing.T) {
	x := start(t)
	orderID, tx, _ := confirmOrder(t, x.bap, "EVSE-1-2")
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
	if o.Callbacks.Delivered < 2 || o.Callbacks.Failed != 0 {
		t.Errorf("the order's callbacks: %+v; want on_init and on_confirm delivered, none failed", o.Callbacks)
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
	t.Run("browser", func(t *testing.T) {
		if testing.Short() {
			t.Skip("browser test skipped in -short mode")
		}
		ctx := browsertest.Start(t, time.Minute)
		if err := chromedp.Do(ctx, chromedp.Navigate(x.s.URL()+"/orders"), chromedp.WaitVisible(chromedp.CSS("table.orders"))); err != nil {
			t.Fatalf("open /orders: %v", err)
		}
		row := `tr[data-order="` + orderID + `"][data-status="CONFIRMED"]`
		browsertest.WaitJS(ctx, t, "order listed", `!!document.querySelector('`+row+`')`, 5*time.Second)
		// The live page follows the order's session: the BAP starts it.
		browsertest.WaitJS(ctx, t, "event stream connected", `document.getElementById('live').classList.contains('on')`, 10*time.Second)
		x.bap.answer(x.bap.send("update", tx, updateMsg(orderID, "ACTIVE")))
		browsertest.WaitJS(ctx, t, "order in progress, live", `!!document.querySelector('tr[data-order="`+orderID+`"][data-status="INPROGRESS"]')`, 20*time.Second)
		// Its session link leads to the session.
		browsertest.Click(ctx, t, `tr[data-order="`+orderID+`"] a[href^="/sessions/"]`)
		browsertest.WaitJS(ctx, t, "session page", `location.pathname === '/sessions/`+o.SessionID+`'`, 5*time.Second)
	})
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
