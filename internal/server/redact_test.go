package server_test

import (
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/server"
)

func TestRedactDB(t *testing.T) {
	tests := []struct{ in, secret string }{
		{"postgres://app:s3cret@db.example.com:5432/cb?sslmode=require", "s3cret"},
		{"postgresql://app:hunter2@db/cb", "hunter2"},
		{"postgres://app@db/cb?password=topsecret", "topsecret"},
	}
	for _, tt := range tests {
		got := server.RedactDB(tt.in)
		if strings.Contains(got, tt.secret) {
			t.Errorf("RedactDB(%q) = %q; still shows the password", tt.in, got)
		}
		if !strings.Contains(got, "db") {
			t.Errorf("RedactDB(%q) = %q; lost the host", tt.in, got)
		}
	}
	if got := server.RedactDB("sqlite:/var/lib/cb.db"); got != "sqlite:/var/lib/cb.db" {
		t.Errorf("RedactDB(sqlite) = %q; want it unchanged", got)
	}
}
