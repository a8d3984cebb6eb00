package loadmgmt

import (
	"os"
	"testing"

	"github.com/chargebridge/chargebridge/internal/leakcheck"
)

// TestMain fails the package when a test leaves goroutines of chargebridge
// running.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
