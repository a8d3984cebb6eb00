package server_test

import (
	"net/http"
	"testing"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
)

// TestDeleteChargerAndTag: DELETE removes a charger (refusing a connected
// one unless forced) and a tag; the charger's sessions stay.
func TestDeleteChargerAndTag(t *testing.T) {
	s := cbtest.Start(t)
	if st := s.PostJSON("/api/v1/tags", map[string]any{"id_tag": "TAG-DEL"}, nil); st != http.StatusCreated {
		t.Fatalf("add tag: %d", st)
	}
	for _, id := range []string{"CP-DEL", "CP-LIVE", "CP-IDLE"} {
		if st := s.PostJSON("/api/v1/chargers", map[string]any{"id": id}, nil); st != http.StatusCreated {
			t.Fatalf("add charger %s: %d", id, st)
		}
	}
	c := s.MustDial("CP-DEL")
	boot(t, c)
	var start startConf
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "TAG-DEL", "meterStart": 0, "timestamp": "2026-11-21T08:00:00Z"}, &start)
	c.MustCall("StopTransaction", map[string]any{"transactionId": start.TransactionID, "meterStop": 5000, "timestamp": "2026-11-21T09:00:00Z"}, nil)
	live := s.MustDial("CP-LIVE")
	boot(t, live)

	var e struct{ Error string }
	if st := s.Do(http.MethodDelete, "/api/v1/chargers/CP-LIVE", nil, &e); st != http.StatusConflict || e.Error == "" {
		t.Errorf("delete connected charger: got %d %q; want 409 with an error", st, e.Error)
	}
	if st := s.Do(http.MethodDelete, "/api/v1/chargers/CP-LIVE?force=true", nil, nil); st != http.StatusNoContent {
		t.Errorf("delete connected charger with force: got %d; want 204", st)
	}
	// CP-DEL is still connected too; a charger that never connected
	// needs no force.
	if st := s.Do(http.MethodDelete, "/api/v1/chargers/CP-DEL?force=true", nil, nil); st != http.StatusNoContent {
		t.Errorf("delete charger: got %d; want 204", st)
	}
	if st := s.Do(http.MethodDelete, "/api/v1/chargers/CP-IDLE", nil, nil); st != http.StatusNoContent {
		t.Errorf("delete idle charger: got %d; want 204", st)
	}
	if st := s.GetJSON("/api/v1/chargers/CP-DEL", nil); st != http.StatusNotFound {
		t.Errorf("get deleted charger: got %d; want 404", st)
	}
	if st := s.Do(http.MethodDelete, "/api/v1/chargers/CP-IDLE", nil, &e); st != http.StatusNotFound {
		t.Errorf("delete again: got %d; want 404", st)
	}
	var sessions struct{ Items []api.Session }
	s.GetJSON("/api/v1/sessions?charger_id=CP-DEL", &sessions)
	if len(sessions.Items) != 1 || sessions.Items[0].Status != charging.SessionCompleted {
		t.Errorf("sessions of the deleted charger: got %+v; want the completed one kept", sessions.Items)
	}

	if st := s.Do(http.MethodDelete, "/api/v1/tags/TAG-DEL", nil, nil); st != http.StatusNoContent {
		t.Errorf("delete tag: got %d; want 204", st)
	}
	if st := s.Do(http.MethodDelete, "/api/v1/tags/TAG-DEL", nil, nil); st != http.StatusNotFound {
		t.Errorf("delete tag again: got %d; want 404", st)
	}
	var tags struct{ Items []charging.IDTag }
	s.GetJSON("/api/v1/tags", &tags)
	if len(tags.Items) != 0 {
		t.Errorf("tags after delete: %+v; want none", tags.Items)
	}
}
