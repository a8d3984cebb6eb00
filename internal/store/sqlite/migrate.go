package sqlite

import (
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one file of migrations/, named NNNN_description.sql and
// applied in the order of NNNN.
type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, path := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(path, "migrations/"), ".sql")
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %s: name must be NNNN_description.sql", path)
		}
		body, err := migrationFiles.ReadFile(path)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrateTx applies the migrations not yet recorded in schema_migrations,
// in order, inside the caller's transaction, and records each. A database
// migrated by a newer version of the program is refused rather than guessed
// at.
func migrateTx(w *writer, log *slog.Logger) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := w.execScript(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	versions, err := w.queryInts(`SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	latest := ms[len(ms)-1].version
	applied := map[int]bool{}
	for _, v := range versions {
		if v > int64(latest) {
			return fmt.Errorf("migrate: the database has schema version %d, newer than this program's %d; run a newer chargebridge", v, latest)
		}
		applied[int(v)] = true
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if err := w.execScript(m.sql); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
		q := fmt.Sprintf(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (%d, '%s', %d)`,
			m.version, strings.ReplaceAll(m.name, "'", "''"), time.Now().UnixNano())
		if err := w.execScript(q); err != nil {
			return fmt.Errorf("migrate: record %s: %w", m.name, err)
		}
		log.Info("database migration applied", "migration", m.name)
	}
	return nil
}

// migrateOwnTx applies pending migrations in a transaction of its own.
func migrateOwnTx(w *writer, log *slog.Logger) error {
	if err := w.execScript("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := migrateTx(w, log); err != nil {
		_ = w.execScript("ROLLBACK")
		return err
	}
	if err := w.execScript("COMMIT"); err != nil {
		_ = w.execScript("ROLLBACK")
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}
