package charging_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/sqlite"
)

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

func openViolationStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestRecordViolation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cb.db")
	st := openViolationStore(t, path)
	clock := &fixedClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	svc := charging.NewService(st, clock, slog.New(slog.NewTextHandler(&logs, nil)), charging.Config{})

	long := strings.Repeat("é", 150) // 300 bytes
	svc.RecordViolation(ctx, charging.Violation{ChargerID: "cp-1", Kind: "string-too-long", Outcome: charging.ViolationTolerated, Example: "first"})
	clock.t = clock.t.Add(time.Second)
	svc.RecordViolation(ctx, charging.Violation{ChargerID: "cp-1", Kind: "string-too-long", Outcome: charging.ViolationTolerated, Example: long})
	svc.RecordViolation(ctx, charging.Violation{ChargerID: "cp-1", Kind: "schema", Outcome: charging.ViolationRefused, Example: "x"})
	svc.RecordViolation(ctx, charging.Violation{ChargerID: "cp-2", Kind: "schema", Outcome: charging.ViolationRefused, Example: "y"})

	recs, err := svc.Violations(ctx, "cp-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("got %d records for cp-1; want 2: %+v", len(recs), recs)
	}
	var tooLong charging.ViolationRecord
	for _, r := range recs {
		if r.Kind == "string-too-long" {
			tooLong = r
		}
	}
	if tooLong.Count != 2 || tooLong.Outcome != charging.ViolationTolerated {
		t.Errorf("got count %d outcome %q; want 2 tolerated", tooLong.Count, tooLong.Outcome)
	}
	if len(tooLong.LastExample) != 200 || tooLong.LastExample != long[:200] {
		t.Errorf("got a last example of %d bytes; want the first 200 bytes of the long one", len(tooLong.LastExample))
	}
	if !tooLong.LastAt.Equal(clock.t) || !tooLong.FirstAt.Equal(clock.t.Add(-time.Second)) {
		t.Errorf("got first %v last %v; want %v and %v", tooLong.FirstAt, tooLong.LastAt, clock.t.Add(-time.Second), clock.t)
	}

	want := []charging.ViolationCount{{Kind: "schema", Outcome: "refused", N: 2}, {Kind: "string-too-long", Outcome: "tolerated", N: 2}}
	if got := svc.ViolationCounts(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got counts %+v; want %+v", got, want)
	}
	// One log line per charger and kind per interval: the second
	// string-too-long is held back.
	if n := strings.Count(logs.String(), "kind=string-too-long"); n != 1 {
		t.Errorf("got %d log lines for string-too-long; want 1:\n%s", n, logs.String())
	}

	// Durable: a new service on the same database goes on counting.
	st.Close()
	st2 := openViolationStore(t, path)
	svc2 := charging.NewService(st2, clock, slog.New(slog.DiscardHandler), charging.Config{})
	svc2.RecordViolation(ctx, charging.Violation{ChargerID: "cp-1", Kind: "string-too-long", Outcome: charging.ViolationTolerated, Example: "third"})
	recs, err = svc2.Violations(ctx, "cp-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Kind == "string-too-long" && (r.Count != 3 || r.LastExample != "third") {
			t.Errorf("after a restart got count %d example %q; want 3 \"third\"", r.Count, r.LastExample)
		}
	}
}
