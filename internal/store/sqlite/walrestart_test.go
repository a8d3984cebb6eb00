package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// TestWALStartsOver: a reader holds back a checkpoint, so it leaves
// frames behind, as steady commits do to the checkpointer. Once the reader
// has gone, the writer copies those frames itself after its next commit,
// and the commits after that overwrite the WAL from its start instead of
// growing it.
func TestWALStartsOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	s := openAt(t, path, withCheckpointInterval(time.Hour), func(c *config) { c.walRestartFrames = 1 })
	ctx := t.Context()
	n := 0
	commits := func(k int) {
		t.Helper()
		for range k {
			n++
			if err := s.CreateCharger(ctx, charging.Charger{ID: fmt.Sprintf("cp-%d", n), Registered: true, CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	walSize := func() int64 {
		t.Helper()
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}

	commits(20)
	reader, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var c int
	if err := reader.QueryRowContext(ctx, "SELECT count(*) FROM chargers").Scan(&c); err != nil {
		t.Fatal(err)
	}
	commits(20)
	conn, err := s.rdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.checkpoint(conn) // stops at the reader's snapshot
	conn.Close()
	if err := reader.Rollback(); err != nil {
		t.Fatal(err)
	}
	if s.walFrames.Load() == 0 {
		t.Fatal("the checkpoint saw an empty WAL")
	}
	before := s.Stats().Checkpoints
	// The writer finishes the checkpoint after this commit (once it has
	// answered it); the next ones start the WAL over.
	commits(1)
	grown := walSize()
	commits(20)
	if got := s.Stats().Checkpoints; got != before+1 {
		t.Errorf("checkpoints: %d, want %d (one by the writer)", got, before+1)
	}
	if size := walSize(); size > grown {
		t.Errorf("the WAL grew from %d to %d bytes: it did not start over", grown, size)
	}
}
