package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// listFixture stores 30 sessions on three chargers, some stopped, and
// returns them as stored, oldest first.
func listFixture(t *testing.T, st charging.Store) []charging.Session {
	for _, id := range []string{"cp-1", "cp-2", "cp-3"} {
		createCharger(t, st, id)
	}
	var s starter
	var all []charging.Session
	for i := range 30 {
		sess := start(t, st, s.req(fmt.Sprintf("cp-%d", i%3+1), i+1, fmt.Sprintf("TAG-%d", i)))
		reason := ""
		switch {
		case i%3 == 0:
			reason = "Local"
		case i%5 == 0:
			reason = "PowerLoss"
		}
		if reason != "" {
			if _, err := st.StopSession(ctx(t), stopReq(sess, sess.MeterStartWh+100, reason)); err != nil {
				t.Fatalf("StopSession: %v", err)
			}
		}
		all = append(all, getSession(t, st, sess.ID))
	}
	return all
}

func testListSessions(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	all := listFixture(t, st)
	newestFirst := slices.Clone(all)
	slices.Reverse(newestFirst)
	filter := func(status charging.SessionStatus, charger string) []charging.Session {
		var out []charging.Session
		for _, s := range newestFirst {
			if (status == "" || s.Status == status) && (charger == "" || s.ChargerID == charger) {
				out = append(out, s)
			}
		}
		return out
	}
	filters := []struct {
		name    string
		status  charging.SessionStatus
		charger string
	}{
		{"all", "", ""},
		{"active", charging.SessionActive, ""},
		{"completed", charging.SessionCompleted, ""},
		{"interrupted", charging.SessionInterrupted, ""},
		{"charger", "", "cp-2"},
		{"charger-and-status", charging.SessionActive, "cp-3"},
		{"no-match-status", charging.SessionReserved, ""},
		{"no-match-charger", "", "cp-nobody"},
	}
	for _, f := range filters {
		want := filter(f.status, f.charger)
		if f.name != "all" && len(want) == len(newestFirst) {
			t.Fatalf("fixture: filter %s matches everything", f.name)
		}
		for _, limit := range []int{0, 1, 3, 7, 30, 100} {
			t.Run(fmt.Sprintf("%s-limit-%d", f.name, limit), func(t *testing.T) {
				got := allSessions(t, st, charging.SessionFilter{Status: f.status, ChargerID: f.charger, Limit: limit})
				if d := diff(want, got); d != "" {
					t.Errorf("pages mismatch (-want +got):\n%s", d)
				}
			})
		}
	}
	t.Run("first-page", func(t *testing.T) {
		items, next, err := st.ListSessions(ctx(t), charging.SessionFilter{Limit: 4})
		if err != nil {
			t.Fatalf("ListSessions: %v", err)
		}
		if d := diff(newestFirst[:4], items); d != "" {
			t.Errorf("first page mismatch (-want +got):\n%s", d)
		}
		if next == "" {
			t.Errorf("first of several pages: got no next cursor")
		}
	})
	t.Run("exact-last-page", func(t *testing.T) {
		items, next, err := st.ListSessions(ctx(t), charging.SessionFilter{Limit: 30})
		if err != nil {
			t.Fatalf("ListSessions: %v", err)
		}
		if len(items) != 30 || next != "" {
			t.Errorf("one page holding everything: got %d items, next %q; want 30, \"\"", len(items), next)
		}
	})
	t.Run("bad-cursor", func(t *testing.T) {
		_, _, err := st.ListSessions(ctx(t), charging.SessionFilter{Limit: 4, Cursor: "not a cursor"})
		wantErr(t, "ListSessions with a bad cursor", err, charging.ErrInvalidInput)
	})
}

// testListSessionsUnderWrites pages while sessions start and stop: a page
// never repeats a session and no session that existed at the first page is
// skipped.
func testListSessionsUnderWrites(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	all := listFixture(t, st)
	var s starter
	s.n = 1000
	seen := map[string]bool{}
	f := charging.SessionFilter{Limit: 4}
	for page := 0; ; page++ {
		items, next, err := st.ListSessions(ctx(t), f)
		if err != nil {
			t.Fatalf("ListSessions: %v", err)
		}
		for _, it := range items {
			if seen[it.ID] {
				t.Fatalf("page %d: session %s seen twice", page, it.ID)
			}
			seen[it.ID] = true
		}
		// Newer sessions and a stop between pages.
		start(t, st, s.req("cp-1", 100+page, "TAG-NEW"))
		if page < len(all) && all[page].EndedAt == nil {
			if _, err := st.StopSession(ctx(t), stopReq(all[page], all[page].MeterStartWh+1, "Local")); err != nil {
				t.Fatalf("StopSession: %v", err)
			}
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	for _, sess := range all {
		if !seen[sess.ID] {
			t.Errorf("session %s skipped by paging", sess.ID)
		}
	}
}

func testEvents(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	events := []charging.ChargerEvent{
		{ChargerID: "cp-1", Kind: charging.EventDataTransfer, Payload: []byte(`{"vendorId":"acme","data":"x"}`), At: at(time.Second)},
		{ChargerID: "cp-2", Kind: charging.EventFirmwareStatus, Payload: []byte(`{"status":"Installed"}`), At: at(2 * time.Second)},
		{ChargerID: "cp-1", Kind: charging.EventSecurityEvent, Payload: []byte{0, 1, 0xfe, 0xff, '\n'}, At: at(3 * time.Second).In(cet)},
		{ChargerID: "cp-1", Kind: charging.EventUnmatchedStop, Payload: nil, At: at(4 * time.Second)},
		{ChargerID: "cp-1", Kind: charging.EventToleratedInput, Payload: []byte(`"timestamp without zone"`), At: at(5 * time.Second)},
	}
	for _, e := range events {
		if err := st.RecordEvent(ctx(t), e); err != nil {
			t.Fatalf("RecordEvent: %v", err)
		}
	}
	cp1 := []charging.ChargerEvent{events[4], events[3], events[2], events[0]} // newest first
	tests := []struct {
		name    string
		charger string
		limit   int
		want    []charging.ChargerEvent
	}{
		{"all-of-charger", "cp-1", 10, cp1},
		{"limit", "cp-1", 2, cp1[:2]},
		{"other-charger", "cp-2", 10, events[1:2]},
		{"unknown-charger", "cp-nobody", 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.ListEvents(ctx(t), tt.charger, tt.limit)
			if err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ListEvents(%s, %d): got %d events; want %d", tt.charger, tt.limit, len(got), len(tt.want))
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.ID <= 0 || i > 0 && g.ID >= got[i-1].ID {
					t.Errorf("event %d: got id %d; want > 0 and below the newer event's", i, g.ID)
				}
				if g.ChargerID != w.ChargerID || g.Kind != w.Kind || !bytes.Equal(g.Payload, w.Payload) || !g.At.Equal(w.At) {
					t.Errorf("event %d: got %s %s %q %v; want %s %s %q %v", i, g.ChargerID, g.Kind, g.Payload, g.At, w.ChargerID, w.Kind, w.Payload, w.At)
				}
			}
		})
	}
}
