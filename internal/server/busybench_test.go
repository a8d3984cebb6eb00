package server_test

import (
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
)

// BenchmarkBusyChargers is saturation in one process: busyChargers
// chargers (real WebSockets, a real SQLite file) each send MeterValues with
// three sampled values back to back, one in flight each. Besides the time
// per MeterValues it reports the goroutine stack memory per charger at its
// highest (sampled every 20 ms): under saturation every charger has a call
// waiting for its group commit, and its goroutine's stack is most of what a
// busy charger costs the Go runtime.
func BenchmarkBusyChargers(b *testing.B) {
	const busyChargers = 200
	s := cbtest.Start(b, cbtest.AutoRegister)
	if st := s.PostJSON("/api/v1/tags", map[string]any{"id_tag": "TAG-B"}, nil); st != http.StatusCreated {
		b.Fatalf("add tag: status %d", st)
	}
	clients := make([]*cbtest.Client, busyChargers)
	txs := make([]int64, busyChargers)
	for i := range clients {
		c := s.MustDial(fmt.Sprintf("BUSY-%03d", i))
		c.MustCall("BootNotification", map[string]any{"chargePointVendor": "Acme", "chargePointModel": "AC22"}, nil)
		var start struct {
			TransactionID int64 `json:"transactionId"`
		}
		c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "TAG-B", "meterStart": 0, "timestamp": "2026-11-21T10:00:00Z"}, &start)
		clients[i], txs[i] = c, start.TransactionID
	}
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&ms)
			if ms.StackInuse > peak.Load() {
				peak.Store(ms.StackInuse)
			}
		}
	}()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for i, c := range clients {
		wg.Go(func() {
			for n := 1; next.Add(1) <= int64(b.N); n++ {
				ans, err := c.TryCall("MeterValues", map[string]any{"connectorId": 1, "transactionId": txs[i], "meterValue": []any{map[string]any{
					"timestamp": time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second).Format(time.RFC3339),
					"sampledValue": []map[string]any{
						{"value": fmt.Sprint(n * 10), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
						{"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
						{"value": "16", "measurand": "Current.Import", "unit": "A"},
					}}}})
				if err != nil || cbtest.ErrorCode(ans) != "" {
					b.Errorf("MeterValues: %s, %v", ans, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(stop)
	<-sampled
	if p := peak.Load(); p > base.StackInuse {
		b.ReportMetric(float64(p-base.StackInuse)/busyChargers/1024, "stack-KB/charger")
	}
}
