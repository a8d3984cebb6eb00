package sqlite

import (
	"embed"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/store/migrations"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one file of migrations/ (see package migrations).
type migration = migrations.Migration

func loadMigrations() ([]migration, error) { return migrations.Load(migrationFiles, "migrations") }

// migrateTx applies the migrations not yet recorded in schema_migrations,
// in order, inside the caller's transaction, and records each. A database
// migrated by a newer version of the program is refused rather than guessed
// at.
func migrateTx(w *writer, log *slog.Logger) error {
	ms, err := loadMigrations()
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
	latest := ms[len(ms)-1].Version
	applied := map[int]bool{}
	for _, v := range versions {
		if v > int64(latest) {
			return fmt.Errorf("migrate: the database has schema version %d, newer than this program's %d; run a newer chargebridge", v, latest)
		}
		applied[int(v)] = true
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if err := w.execScript(m.SQL); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.Name, err)
		}
		q := fmt.Sprintf(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (%d, '%s', %d)`,
			m.Version, strings.ReplaceAll(m.Name, "'", "''"), time.Now().UnixNano())
		if err := w.execScript(q); err != nil {
			return fmt.Errorf("migrate: record %s: %w", m.Name, err)
		}
		log.Info("database migration applied", "migration", m.Name)
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
