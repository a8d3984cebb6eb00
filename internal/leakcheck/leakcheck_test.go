package leakcheck_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/leakcheck"
	"github.com/chargebridge/chargebridge/internal/server"
)

// parked says it runs, then blocks until stop is closed: a goroutine of
// this module.
func parked(running, stop chan struct{}) {
	close(running)
	<-stop
}

// TestLeakedFindsAGoroutine: a goroutine left running code of this module
// is reported, and no longer once it ended.
func TestLeakedFindsAGoroutine(t *testing.T) {
	running, stop, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { defer close(done); parked(running, stop) }()
	<-running
	if left := leakcheck.Leaked(0); !anyContains(left, "leakcheck_test.parked") {
		close(stop)
		t.Fatalf("Leaked missed a parked goroutine; reported:\n%s", strings.Join(left, "\n\n"))
	}
	close(stop)
	<-done
	if left := leakcheck.Leaked(5 * time.Second); len(left) > 0 {
		t.Fatalf("Leaked after the goroutine ended:\n%s", strings.Join(left, "\n\n"))
	}
}

// TestServerLeavesNothingAfterShutdown: a running server is reported (so
// a server test that forgets Shutdown fails its package), and after
// Shutdown none of its goroutines is left.
func TestServerLeavesNothingAfterShutdown(t *testing.T) {
	cfg := server.Config{
		HTTP:              "127.0.0.1:0",
		DB:                "sqlite:" + filepath.Join(t.TempDir(), "cb.db"),
		HeartbeatInterval: 5 * time.Minute,
		PingInterval:      30 * time.Second,
		CallTimeout:       5 * time.Second,
		LogLevel:          "info",
		LogFormat:         "text",
	}
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// The upkeep runs in the errgroup soon after Start.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		left := leakcheck.Leaked(0)
		if anyContains(left, "internal/ocpp.(*Server)") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("Leaked missed the running server's OCPP upkeep; reported:\n%s", strings.Join(left, "\n\n"))
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// Shutdown waits for what it stops: nothing may be left, at once.
	if left := leakcheck.Leaked(0); len(left) > 0 {
		t.Fatalf("%d goroutine(s) left after Shutdown:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

func anyContains(stacks []string, s string) bool {
	for _, g := range stacks {
		if strings.Contains(g, s) {
			return true
		}
	}
	return false
}
