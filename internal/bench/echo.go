package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// Echo runs the ceiling server: a minimal OCPP-J WebSocket server, one
// goroutine per connection with default buffers, that answers every CALL
// with a fixed CALLRESULT (empty for MeterValues; the least a charger
// accepts for Boot, Heartbeat and transactions) and stores nothing. It is what a plain
// goroutine-per-connection server costs on this machine.
func Echo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("http", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /ocpp/{id}", func(w http.ResponseWriter, r *http.Request) {
		up := ws.HTTPUpgrader{Protocol: func(p string) bool { return p == "ocpp1.6" || p == "ocpp2.0.1" }}
		conn, _, _, err := up.Upgrade(r, w)
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			for {
				msg, op, err := wsutil.ReadClientData(conn)
				if err != nil {
					return
				}
				if op != ws.OpText {
					continue
				}
				f, err := ocpp.ParseFrame(msg)
				if err != nil || f.Type != ocpp.Call {
					continue
				}
				if err := wsutil.WriteServerText(conn, ocpp.AppendCallResult(nil, f.ID, echoAnswer(f.Action))); err != nil {
					return
				}
			}
		}()
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// echoAnswer is the fixed answer to an action.
func echoAnswer(action string) []byte {
	switch action {
	case "BootNotification":
		return []byte(`{"status":"Accepted","currentTime":"2026-01-01T00:00:00Z","interval":300}`)
	case "Heartbeat":
		return []byte(`{"currentTime":"2026-01-01T00:00:00Z"}`)
	case "Authorize":
		return []byte(`{"idTagInfo":{"status":"Accepted"}}`)
	case "StartTransaction":
		return []byte(`{"transactionId":1,"idTagInfo":{"status":"Accepted"}}`)
	}
	return []byte("{}")
}
