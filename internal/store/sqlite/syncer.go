package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
)

// walFile is the database's WAL file, opened by the store itself so that
// the syncer can fsync it. fsync makes durable everything written to the
// file, through any descriptor. SQLite keeps no locks on the WAL file (they
// are on the database and -shm files), so this descriptor cannot disturb
// them.
type walFile struct {
	path string
	f    *os.File
}

func openWAL(dbPath string) (*walFile, error) {
	w := &walFile{path: dbPath + "-wal"}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

// open opens the WAL and fsyncs its directory, so that the file's name is
// as durable as what the syncer fsyncs into it.
func (w *walFile) open() error {
	f, err := os.Open(w.path)
	if err != nil {
		return fmt.Errorf("open WAL for syncing: %w", err)
	}
	dir, err := os.Open(filepath.Dir(w.path))
	if err == nil {
		err = dir.Sync()
		dir.Close()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("sync directory of %s: %w", w.path, err)
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f = f
	return nil
}

// sync fsyncs the WAL. Should SQLite ever have replaced the file (it does
// so only when the last connection closes, which the writer's never does
// while the store is open), it syncs the new file too.
func (w *walFile) sync() error {
	if err := w.f.Sync(); err != nil {
		return err
	}
	held, err := w.f.Stat()
	if err != nil {
		return err
	}
	now, err := os.Stat(w.path)
	if err != nil {
		return err
	}
	if os.SameFile(held, now) {
		return nil
	}
	if err := w.open(); err != nil {
		return err
	}
	return w.f.Sync()
}

func (w *walFile) close() error { return w.f.Close() }

// runSyncer is the syncer goroutine (WithPipelinedSync): it takes the
// batches the writer committed, fsyncs the WAL once for all that are
// waiting, and then answers their operations. It exits when the writer has
// closed synced.
func (s *Store) runSyncer() {
	defer s.wg.Done()
	var pending [][]*writeOp
	for first := range s.synced {
		pending = append(pending[:0], first)
	more:
		for {
			select {
			case b, ok := <-s.synced:
				if !ok {
					break more
				}
				pending = append(pending, b)
			default:
				break more
			}
		}
		var err error
		if broken := s.broken.Load(); broken != nil {
			err = *broken // a later fsync may succeed without the lost pages
		} else if err = s.wal.sync(); err != nil {
			// After a failed fsync the kernel may have dropped the pages it
			// could not write: nothing written since can be trusted to be on
			// disk, so every write from now on fails.
			err = fmt.Errorf("fsync %s: %w; the store takes no more writes: fix the disk and restart", s.wal.path, err)
			s.cfg.log.Error("WAL fsync failed", "err", err)
			s.broken.CompareAndSwap(nil, &err)
		}
		s.stats.syncs.Add(1)
		for _, b := range pending {
			s.finish(b, err)
		}
		if len(s.synced) == 0 {
			select {
			case s.idle <- struct{}{}:
			default: // the token is there already
			}
		}
	}
}
