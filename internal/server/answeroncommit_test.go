package server_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
)

// TestMeterValuesAnsweredOnCommit: a 1.6 charger's MeterValues of its
// transaction are answered by the store once durable (no goroutine waits
// for the commit, #16), and each is applied once, in order, by the time
// its answer comes. The count of calls answered on commit is what tells
// this path from the waiting one, which stores the same.
func TestMeterValuesAnsweredOnCommit(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	c := s.MustDial("AOC-1")
	c.MustCall("BootNotification", map[string]any{"chargePointVendor": "Acme", "chargePointModel": "AC22"}, nil)
	var start struct {
		TransactionID int64 `json:"transactionId"`
	}
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "TAG-AOC", "meterStart": 10000, "timestamp": "2026-01-01T10:00:00Z"}, &start)
	stats := s.OCPP().Stats()
	before := stats.AnsweredOnCommit.Load()
	const n = 5
	for i := 1; i <= n; i++ {
		var conf map[string]any
		c.MustCall("MeterValues", map[string]any{"connectorId": 1, "transactionId": start.TransactionID, "meterValue": []any{
			map[string]any{"timestamp": fmt.Sprintf("2026-01-01T10:%02d:00Z", i), "sampledValue": []any{
				map[string]any{"value": fmt.Sprint(10000 + 1000*i), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}}}}}, &conf)
		if len(conf) != 0 {
			t.Errorf("MeterValues %d answered %v; want {}", i, conf)
		}
	}
	if got := stats.AnsweredOnCommit.Load() - before; got != n {
		t.Errorf("%d of %d MeterValues answered on commit; want all", got, n)
	}
	var list struct{ Items []api.Session }
	if code := s.GetJSON("/api/v1/sessions?charger_id=AOC-1", &list); code != 200 || len(list.Items) != 1 {
		t.Fatalf("sessions: %d %+v", code, list.Items)
	}
	var one api.Session
	s.GetJSON("/api/v1/sessions/"+list.Items[0].ID, &one)
	if math.Abs(one.KWh-n) > 1e-9 || len(one.Samples) != n {
		t.Errorf("session %+v with %d samples; want %d kWh and %d samples", one, len(one.Samples), n, n)
	}
}
