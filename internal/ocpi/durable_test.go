package ocpi_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/sqlite"
)

// A change committed while the OCPI module was not running (the process
// died between the commit and the push) is pushed when it runs again: the
// module reads the core's event log from its last acknowledged position,
// not an in-memory queue that died with the process.
func TestChangeCommittedWhileDownIsPushedAfterRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cb.db")
	s := startCPOWithDB(t, db)
	e := newEMSP(t)
	e.register(s)
	ctx := context.Background()
	chargeOnce(t, s, "CP-DUR")
	waitFor(t, "the charger's Location at the eMSP", func() bool { return len(pushesTo(e, "", "/locations/NL/CBR/")) > 0 })
	waitFor(t, "the outbox to drain", func() bool {
		n, _ := s.OCPI().Pending(ctx, "")
		return n == 0
	})
	s.Stop()

	// What a charger's StatusNotification commits, with no server to
	// push it.
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	_, applied, err := st.SetConnectorStatus(ctx, charging.Connector{ChargerID: "CP-DUR", ConnectorID: 1, Status: charging.StatusFaulted,
		ErrorCode: "GroundFailure", StatusAt: now, UpdatedAt: now})
	if err != nil || !applied {
		t.Fatalf("set status = %v, %v", applied, err)
	}
	st.Close()
	before := len(e.pushes())

	s = startCPOWithDB(t, db)
	// The charger is not connected after the restart, so the EVSE's status
	// is UNKNOWN; the push is the change's by its time.
	stamp := `"last_updated":"` + now.Truncate(time.Second).Format("2006-01-02T15:04:05Z") + `"`
	waitFor(t, "the EVSE's status change pushed after the restart", func() bool {
		for _, p := range e.pushes()[before:] {
			if (p.Method == http.MethodPatch || p.Method == http.MethodPut) && strings.HasPrefix(p.Path, "/locations/NL/CBR/") &&
				strings.Contains(string(p.Body), stamp) {
				return true
			}
		}
		return false
	})
}
