package api

import (
	"fmt"
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// TestEveryCommandErrorHasAnHTTPStatus: each core command error has its
// own entry in the table, and CommandStatus finds it through wrapping.
func TestEveryCommandErrorHasAnHTTPStatus(t *testing.T) {
	for _, e := range charging.CommandErrors {
		status := 0
		for _, m := range commandErrors {
			if m.err == e {
				status = m.status
			}
		}
		if status == 0 {
			t.Errorf("core command error %q has no HTTP status in commandErrors", e)
			continue
		}
		if got := CommandStatus(fmt.Errorf("wrapped: %w", e)); got != status {
			t.Errorf("CommandStatus(%q) = %d; want %d", e, got, status)
		}
	}
}
