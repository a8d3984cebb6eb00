package beckn_test

import (
	"testing"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
)

// An unsolicited callback the BAP could not take before the server
// stopped is sent after it starts again: it was kept, not only queued in
// memory.
func TestUnsolicitedCallbackSurvivesARestart(t *testing.T) {
	x := start(t)
	b := x.bap
	orderID, tx, _ := confirmOrder(t, b, "EVSE-1-1")
	b.answer(b.send("update", tx, updateMsg(orderID, "PENDING")))
	b.failNext.Store(1 << 20) // the BAP is down
	if err := x.cp.StopSession(1, "PowerLoss"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the on_status to be tried", func() bool { return b.failNext.Load() < 1<<20 })
	cfg := x.s.Config
	x.s.Stop()

	b.failNext.Store(0) // the BAP is back
	cbtest.StartWithDB(t, x.s.DBPath, cbtest.Configure(func(c *server.Config) { *c = cfg }))
	in := b.wait("on_status INTERRUPTED after the restart", func(in inbound) bool {
		return in.Action == "on_status" && in.Ctx.TransactionID == tx
	})
	want(t, "kept on_status", in.Msg, map[string]any{"order/beckn:id": orderID, session + "sessionStatus": "INTERRUPTED"})
}
