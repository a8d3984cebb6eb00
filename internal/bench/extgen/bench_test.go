package extgen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chargebridge/chargebridge/internal/bench/extgen"
)

// BenchmarkSaturation is the generator's own cost per acknowledged
// MeterValues, against a gorilla peer in the same process that answers
// every CALL with the least it needs (peer included in the figure).
//
//	go test -run '^$' -bench Saturation -benchtime 20000x ./internal/bench/extgen/
func BenchmarkSaturation(b *testing.B) {
	up := websocket.Upgrader{Subprotocols: []string{"ocpp1.6"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			var f []json.RawMessage
			if json.Unmarshal(msg, &f) != nil || len(f) != 4 {
				return
			}
			payload := `{}`
			switch string(f[2]) {
			case `"BootNotification"`:
				payload = `{"status":"Accepted","currentTime":"2026-01-01T00:00:00Z","interval":300}`
			case `"StartTransaction"`:
				payload = `{"transactionId":1,"idTagInfo":{"status":"Accepted"}}`
			}
			if c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `[3,%s,%s]`, f[1], payload)) != nil {
				return
			}
		}
	}))
	defer srv.Close()
	g, err := extgen.New(extgen.Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ocpp", Chargers: 8, IDPrefix: "B-", Mode: extgen.Saturation})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	for g.Stats().Transactions < 8 {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	start := g.Stats().MeterValues
	for g.Stats().MeterValues-start < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	cancel()
	<-done
	if st := g.Stats(); st.Failed() != 0 {
		b.Fatalf("got %+v; want no failed call", st)
	}
}
