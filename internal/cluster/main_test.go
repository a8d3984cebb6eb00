package cluster

import (
	"os"
	"testing"

	"github.com/chargebridge/chargebridge/internal/leakcheck"
)

// TestMain fails the package when a test leaves a node's goroutines (its
// refresh loop, a forwarded command) running.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
