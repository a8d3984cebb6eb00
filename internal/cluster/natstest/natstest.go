// Package natstest runs a NATS server with JetStream inside a test process,
// on a random loopback port with its store in the test's temporary
// directory, so cluster tests need no outside process
// (github.com/nats-io/nats-server/v2, the NATS server itself, embedded).
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is a running embedded NATS server.
type Server struct {
	*server.Server
}

// Start runs a NATS server with JetStream until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		t.Fatalf("embedded NATS server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("embedded NATS server not ready in 10s")
	}
	s := &Server{ns}
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's client URL (nats://127.0.0.1:PORT).
func (s *Server) URL() string { return s.ClientURL() }

// Stop shuts the server down and waits for it.
func (s *Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
}
