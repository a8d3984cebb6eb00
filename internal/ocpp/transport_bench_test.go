package ocpp

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// benchMeterValues is a MeterValues CALL with three sampled values, as the
// external load generator sends it.
const benchMeterValues = `[2,"%d","MeterValues",{"connectorId":1,"transactionId":1,"meterValue":[{"timestamp":"2026-11-21T10:00:00Z","sampledValue":[{"value":"1000","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"11000","measurand":"Power.Active.Import","unit":"W"},{"value":"16","measurand":"Current.Import","unit":"A"}]}]}]`

// BenchmarkServerTransport is the server's part of a call with a handler
// that costs next to nothing (sizeHandler): reading the frame (and
// waiting for it), parsing it, writing the answer; chargers clients each
// send their calls back to back over a real WebSocket on 127.0.0.1, one in
// flight. The client's CPU is
// in the figure too (same process), the same for every build.
func BenchmarkServerTransport(b *testing.B) {
	for _, chargers := range []int{1, 50} {
		b.Run(fmt.Sprintf("chargers-%d", chargers), func(b *testing.B) {
			s := NewServer(Config{Protocols: []Protocol{{Name: "ocpp1.6", Handler: sizeHandler{}}}})
			addr := startServer(b, s)
			conns := make([]net.Conn, chargers)
			for i := range conns {
				dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
				nc, _, _, err := ws.Dialer{Protocols: []string{"ocpp1.6"}}.Dial(dctx, fmt.Sprintf("ws://%s/ocpp/BT-%d", addr, i))
				dcancel()
				if err != nil {
					b.Fatal(err)
				}
				defer nc.Close()
				conns[i] = nc
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for _, nc := range conns {
				wg.Go(func() {
					var out bytes.Buffer
					ans := make([]byte, 0, 64)
					for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
						out.Reset()
						f := ws.MaskFrameInPlace(ws.NewFrame(ws.OpText, true, fmt.Appendf(nil, benchMeterValues, n)))
						if err := ws.WriteFrame(&out, f); err != nil {
							b.Error(err)
							return
						}
						if _, err := nc.Write(out.Bytes()); err != nil {
							b.Error(err)
							return
						}
						h, err := ws.ReadHeader(nc)
						if err != nil {
							b.Error(err)
							return
						}
						ans = ans[:h.Length]
						if _, err := ioReadFull(nc, ans); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}
