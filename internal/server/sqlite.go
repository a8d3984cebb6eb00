package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/chargebridge/chargebridge/internal/store/sqlite"
)

func openSQLite(ctx context.Context, path string, observe func(time.Duration)) (Store, error) {
	if path == "" {
		return nil, errors.New("--db sqlite: names no file; use sqlite:PATH, e.g. sqlite:chargebridge.db")
	}
	// SQLite's own error for a missing folder is "unable to open database
	// file (14)"; say what is wrong instead.
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--db sqlite:%s: folder %s does not exist; create it (mkdir -p %s) or choose another path", path, dir, dir)
	} else if err == nil && !st.IsDir() {
		return nil, fmt.Errorf("--db sqlite:%s: %s is not a folder; choose another path", path, dir)
	}
	var opts []sqlite.Option
	if observe != nil {
		opts = append(opts, sqlite.WithCommitObserver(observe))
	}
	return sqlite.Open(ctx, path, opts...)
}
