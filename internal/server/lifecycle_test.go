package server_test

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/server"
)

// TestFailedComponentStopsTheServer breaks a component under a running
// server (its HTTP listener, closed from outside): the server must notice,
// stop every other component and return the failure from Serve, instead
// of running on without HTTP.
func TestFailedComponentStopsTheServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		HTTP:              "127.0.0.1:0",
		DB:                "sqlite:" + filepath.Join(t.TempDir(), "cb.db"),
		HeartbeatInterval: 5 * time.Minute,
		PingInterval:      30 * time.Second,
		CallTimeout:       5 * time.Second,
		LogLevel:          "info",
		LogFormat:         "text",
	}
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler), server.Options{Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Failed():
		t.Fatal("Failed closed while every component runs")
	default:
	}
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), 10*time.Second) }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second): // a hang guard, not a speed assert
		t.Fatal("Serve did not return after the HTTP listener failed")
	}
	if err == nil || !strings.Contains(err.Error(), "http:") {
		t.Fatalf("Serve = %v; want the HTTP server's failure", err)
	}
}
