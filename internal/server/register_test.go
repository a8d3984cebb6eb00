package server_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/sqlite"
)

// gatedStore is a real SQLite store whose CreateCharger waits for open
// to be closed: a store that is the bottleneck (a fleet's first
// connections).
type gatedStore struct {
	*sqlite.Store
	open chan struct{}
}

func (g *gatedStore) CreateCharger(ctx context.Context, c charging.Charger) error {
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Store.CreateCharger(ctx, c)
}

// TestAutoRegisterAfterTheHandshake: with --auto-register the WebSocket
// handshake does not wait for the charger's registration (at 100 000
// chargers, handshakes that waited for the store ran into the chargers'
// connect timeouts); the charger is registered once connected, before its
// first message is handled.
func TestAutoRegisterAfterTheHandshake(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gated.db"))
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedStore{Store: st, open: make(chan struct{})}
	s := cbtest.Start(t, cbtest.AutoRegister, func(s *cbtest.Setup) { s.Options.Store = g })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dialer{Protocols: []string{"ocpp1.6"}}.Dial(ctx, s.WSURL()+"/CP-NEW")
	if err != nil {
		close(g.open)
		t.Fatalf("handshake while the registration waits: %v; want it done first", err)
	}
	defer conn.Close()
	close(g.open)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := st.GetCharger(context.Background(), "CP-NEW"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("CP-NEW not registered once connected")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
