package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/server"
)

// TestAPITokenRequiredBeyondLoopback checks that a server reachable from
// other machines refuses to start without an operator token.
func TestAPITokenRequiredBeyondLoopback(t *testing.T) {
	tests := []struct {
		name  string
		http  string
		token string
		want  string // "" for valid, else part of the error
	}{
		{"loopback-open", "127.0.0.1:8080", "", ""},
		{"loopback-range-open", "127.0.0.2:8080", "", ""},
		{"localhost-open", "localhost:8080", "", ""},
		{"ipv6-loopback-open", "[::1]:8080", "", ""},
		{"all-interfaces-needs-token", "0.0.0.0:8080", "", "--api-token"},
		{"empty-host-needs-token", ":8080", "", "--api-token"},
		{"lan-address-needs-token", "192.168.1.10:8080", "", "--api-token"},
		{"hostname-needs-token", "cb.example.com:8080", "", "--api-token"},
		{"all-interfaces-with-token", "0.0.0.0:8080", "0123456789abcdef0123", ""},
		{"short-token", "0.0.0.0:8080", "secret", "at least 16"},
		{"token-with-space", "127.0.0.1:8080", "0123456789 abcdef0123", "without spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := server.Config{HTTP: tt.http, DB: "sqlite:x.db", HeartbeatInterval: time.Minute, LogLevel: "info", LogFormat: "text", APIToken: tt.token}
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v; want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v; want an error mentioning %q", err, tt.want)
			}
		})
	}
}
