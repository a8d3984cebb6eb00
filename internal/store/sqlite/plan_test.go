package sqlite

import (
	"strings"
	"testing"
)

// TestQueryPlans checks that the reads use an index, not a table scan or a
// sort of everything.
func TestQueryPlans(t *testing.T) {
	s := openTemp(t)
	tests := []struct {
		name, query string
		args        []any
		// want is a substring of the plan.
		want string
	}{
		{"session-samples", sqlSessionSamples, []any{1}, "USING INDEX meter_samples_session"},
		{"list-sessions", sqlListSessions(false, false), []any{1, "", "", 10}, "USING INTEGER PRIMARY KEY"},
		{"list-sessions-status", sqlListSessions(true, false), []any{1, "active", "", 10}, "USING INDEX sessions_status"},
		{"list-sessions-charger", sqlListSessions(false, true), []any{1, "", "cp", 10}, "USING INDEX sessions_charger"},
		{"list-sessions-both", sqlListSessions(true, true), []any{1, "active", "cp", 10}, "USING INDEX sessions_charger"},
		{"active-for-tag", sqlActiveForTag, []any{"T"}, "USING INDEX sessions_open_tag"},
		{"close-open", sqlCloseOpen, []any{1, "cp", 1, 0}, "USING INDEX sessions_open_connector"},
		{"close-open-meter", sqlCloseOpenMeter, []any{1, "cp", 1, 0}, "USING INDEX sessions_open_connector"},
		{"flush-meter", sqlFlushMeter, []any{1.0, 0.0, nil, nil, nil, nil, 1, 1, 0}, "USING INTEGER PRIMARY KEY (rowid=?)"},
		{"meter-version", sqlMeterVersion, []any{1}, "USING INTEGER PRIMARY KEY (rowid=?)"},
		{"segments-of", sqlSegmentsOf, []any{1}, "USING INDEX meter_segments_session (session_seq=?)"},
		{"journal-row", sqlJournalRow, []any{1}, "USING INTEGER PRIMARY KEY (rowid=?)"},
		{"list-events", sqlListEvents, []any{"cp", 10}, "USING INDEX events_charger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := s.rdb.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			p := strings.Join(plan, "; ")
			if !strings.Contains(p, tt.want) || strings.Contains(p, "SCAN sessions") || strings.Contains(p, "SCAN meter_samples") {
				t.Errorf("plan: %s; want %q and no table scan", p, tt.want)
			}
			t.Log(p)
		})
	}
}
