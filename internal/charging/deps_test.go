package charging

import (
	"go/build"
	"strings"
	"testing"
)

// TestCoreImportsNoAdapter keeps the core free of protocol, HTTP and SQL
// packages: adapters depend on the core, never the other way round.
func TestCoreImportsNoAdapter(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{
		"net/http", "database/sql", "net/",
		"github.com/chargebridge/chargebridge/internal/ocpp",
		"github.com/chargebridge/chargebridge/internal/ocpi",
		"github.com/chargebridge/chargebridge/internal/beckn",
		"github.com/chargebridge/chargebridge/internal/api",
		"github.com/chargebridge/chargebridge/internal/store",
		"github.com/chargebridge/chargebridge/internal/web",
		"github.com/chargebridge/chargebridge/internal/server",
		"github.com/gobwas/", "github.com/jackc/", "modernc.org/sqlite",
	}
	for _, imp := range pkg.Imports {
		for _, f := range forbidden {
			if imp == strings.TrimSuffix(f, "/") || strings.HasPrefix(imp, f) {
				t.Errorf("charging imports %s; the core must not depend on %s", imp, f)
			}
		}
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("found no imports at all; is the test looking at the right package?")
	}
}
