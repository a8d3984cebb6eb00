package sqlite

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// TestSegmentPagesWrittenOnce counts, by table, the pages that the WAL
// receives while 1 000 sessions send MeterValues and rounds move their
// samples into segments (no checkpoint runs, so the WAL keeps every
// frame). Each commit moves 2 048 samples, about twenty pages of
// segments: appended in order, a page of meter_segments is written once,
// or twice when a commit ends in it. Keyed by session (migration 0016),
// each one was written 2.09 times here (about four with commits of 256
// MeterValues).
func TestSegmentPagesWrittenOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	s := openAt(t, path, withCheckpointInterval(time.Hour), withJournal(16384, 2048))
	const sessions, per = 1000, 50
	sess := benchSessionsT(t, s, sessions)
	if _, err := s.rdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range sess {
		ss := &sess[i]
		wg.Go(func() {
			for n := range per {
				m := charging.MeterValues{ChargerID: ss.ChargerID, ConnectorID: 1, TransactionID: &ss.TransactionID,
					Samples: []charging.MeterSample{{Timestamp: t0.Add(time.Duration(n) * time.Second), Values: []charging.SampledValue{
						{Measurand: charging.MeasurandEnergyImportRegister, Unit: "Wh", Value: float64(1000 + n), Numeric: true, Raw: strconv.Itoa(1000 + n)},
						{Measurand: charging.MeasurandPowerImport, Unit: "W", Value: 7000, Numeric: true, Raw: "7000"},
						{Measurand: charging.MeasurandSoC, Unit: "Percent", Value: 50, Numeric: true, Raw: "50"}}}},
					ReceivedAt: t0}
				if err := writeFolded(context.Background(), s, ss, m); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if moved := s.Stats().Moved; moved < sessions*per/2 {
		t.Fatalf("only %d samples went into segments; the test needs rounds", moved)
	}

	owner := map[uint32]string{}
	rows, err := s.rdb.Query("SELECT name, pageno FROM dbstat")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var page int64
		if err := rows.Scan(&name, &page); err != nil {
			t.Fatal(err)
		}
		owner[uint32(page)] = name
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	// The WAL: a 32-byte header, then frames of a 24-byte header (the
	// page number first) and a page.
	wal, err := os.ReadFile(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 8192
	frames, pages := map[string]int{}, map[string]map[uint32]bool{}
	for off := 32; off+24+pageSize <= len(wal); off += 24 + pageSize {
		page := binary.BigEndian.Uint32(wal[off:])
		name := owner[page]
		frames[name]++
		if pages[name] == nil {
			pages[name] = map[uint32]bool{}
		}
		pages[name][page] = true
	}
	for name, n := range frames {
		t.Logf("%-24q %5d frames, %4d pages", name, n, len(pages[name]))
	}
	seg := "meter_segments"
	if len(pages[seg]) == 0 {
		t.Fatal("no page of meter_segments in the WAL")
	}
	if per := float64(frames[seg]) / float64(len(pages[seg])); per > 1.5 {
		t.Errorf("each page of meter_segments was written %.2f times; want at most 1.5", per)
	}
}
