package sim

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// leanServer is a minimal OCPP 1.6J central system for benchmarks: one
// goroutine and no buffers per connection, canned answers.
type leanServer struct {
	ln    net.Listener
	URL   string
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startLean(b testing.TB) *leanServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &leanServer{ln: ln, URL: "ws://" + ln.Addr().String() + "/ocpp", conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[nc] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(nc)
			}()
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for nc := range s.conns {
			nc.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *leanServer) serve(nc net.Conn) {
	defer nc.Close()
	u := ws.Upgrader{Protocol: func(p []byte) bool { return string(p) == Subprotocol }}
	if _, err := u.Upgrade(nc); err != nil {
		return
	}
	var tx int
	now := time.Now().UTC().Format(time.RFC3339)
	for {
		data, _, err := wsutil.ReadClientData(nc)
		if err != nil {
			return
		}
		f, err := ocpp.ParseFrame(data)
		if err != nil || f.Type != ocpp.Call {
			continue
		}
		resp := "{}"
		switch f.Action {
		case "BootNotification":
			resp = `{"status":"Accepted","currentTime":"` + now + `","interval":3600}`
		case "Heartbeat":
			resp = `{"currentTime":"` + now + `"}`
		case "Authorize", "StopTransaction":
			resp = `{"idTagInfo":{"status":"Accepted"}}`
		case "StartTransaction":
			tx++
			resp = fmt.Sprintf(`{"idTagInfo":{"status":"Accepted"},"transactionId":%d}`, tx)
		}
		if err := wsutil.WriteServerText(nc, ocpp.AppendCallResult(nil, f.ID, []byte(resp))); err != nil {
			return
		}
	}
}

// BenchmarkFleetMemory connects 1000 idle chargers and reports the memory
// and goroutines each costs once registered. The bytes include the lean
// server's side of each connection (one goroutine and its socket), which runs
// in the same process.
func BenchmarkFleetMemory(b *testing.B) {
	const n = 1000
	for range b.N {
		srv := startLean(b)
		cfg := Config{URL: srv.URL, Connectors: 2, NoAutoStart: true, MaxDialing: 128}
		f, err := NewFleet(cfg, n)
		if err != nil {
			b.Fatal(err)
		}
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		deadline := time.Now().Add(60 * time.Second)
		for f.Stats().CallsSent < n*4 { // Boot and three StatusNotifications
			if time.Now().After(deadline) {
				b.Fatalf("fleet did not register in time: %+v", f.Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		buf := make([]byte, 8<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		goroutines := 0
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "internal/sim.(*Charger)") {
				goroutines++
			}
		}
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "heap-B/charger")
		b.ReportMetric(float64(after.StackInuse-before.StackInuse)/n, "stack-B/charger")
		b.ReportMetric(float64(goroutines)/n, "goroutines/charger")
		cancel()
		<-done
	}
}

// BenchmarkSaturation measures the simulator driving a lean server with back-
// to-back MeterValues from 50 chargers; b.N is the number of calls.
func BenchmarkSaturation(b *testing.B) {
	srv := startLean(b)
	lat := &Histogram{}
	cfg := Config{URL: srv.URL, Connectors: 1, Saturate: true, Latency: lat}
	f, err := NewFleet(cfg, 50)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	go func() { done <- f.Run(ctx) }()
	for lat.Count() < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(lat.Quantile(0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat.Quantile(0.99).Microseconds()), "p99-µs")
}
