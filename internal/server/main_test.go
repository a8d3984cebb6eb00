package server_test

import (
	"os"
	"testing"

	"github.com/chargebridge/chargebridge/internal/leakcheck"
)

// TestMain fails the package when a server test leaves goroutines of
// chargebridge running (a server, connection or worker not stopped).
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
