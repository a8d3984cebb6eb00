package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	core "github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/sim"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// TestBrowserClusterChargersPage opens node b's chargers page while a
// charger connects to node a, then leaves it: b's page shows it online,
// then offline, live (the presence count is the cluster's).
func TestBrowserClusterChargersPage(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	dsn := pgtest.Schema(t)
	ns := natstest.Start(t)
	ctx := browser(t, 2*time.Minute)
	node := func(id string) *cbtest.Server {
		return cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) {
			c.DB, c.NATS, c.NodeID, c.AcceptUnknownTags = dsn, ns.URL(), id, true
		}))
	}
	a, b := node("a"), node("b")
	const cp = "CLU-00001"
	if _, err := a.Service().RegisterCharger(context.Background(), core.Charger{ID: cp}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(b.URL()+"/chargers"), chromedp.WaitVisible(chromedp.ID("chargers"))); err != nil {
		t.Fatalf("open b's chargers page: %v", err)
	}
	row := `document.querySelector('tr[data-charger="` + cp + `"]')`
	waitJS(ctx, t, "b's page to list the charger offline", row+` && `+row+`.dataset.online === 'false'`, 20*time.Second)

	ch, err := sim.NewCharger(sim.Config{URL: a.WSURL(), Connectors: 1, NoAutoStart: true, TimeScale: 60}, cp)
	if err != nil {
		t.Fatal(err)
	}
	simCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ch.Run(simCtx); close(done) }()
	defer func() { stop(); <-done }()
	waitJS(ctx, t, "b's page to show the charger on a online", row+` && `+row+`.dataset.online === 'true'`, 30*time.Second)

	stop()
	<-done
	waitJS(ctx, t, "b's page to show the charger offline again", row+` && `+row+`.dataset.online === 'false'`, 30*time.Second)
	var c struct {
		Connected bool `json:"connected"`
	}
	if st := b.GetJSON("/api/v1/chargers/"+cp, &c); st != http.StatusOK || c.Connected {
		t.Errorf("b's API: status %d, connected %v; want 200, false", st, c.Connected)
	}
}
