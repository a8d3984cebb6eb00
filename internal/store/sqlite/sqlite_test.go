package sqlite

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/storetest"
)

// dbPaths gives each test one database file, so that a second open in the
// same test is a restart of the same database.
var dbPaths sync.Map // *testing.T → string

func openTest(t *testing.T) charging.Store {
	t.Helper()
	p, ok := dbPaths.Load(t)
	if !ok {
		p, _ = dbPaths.LoadOrStore(t, filepath.Join(t.TempDir(), "chargebridge.db"))
		t.Cleanup(func() { dbPaths.Delete(t) })
	}
	s, err := Open(t.Context(), p.(string))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, openTest)
}
