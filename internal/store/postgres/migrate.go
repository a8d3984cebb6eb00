package postgres

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/chargebridge/chargebridge/internal/store/migrations"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one file of migrations/ (see package migrations).
type migration = migrations.Migration

func loadMigrations() ([]migration, error) { return migrations.Load(migrationFiles, "migrations") }

// migrate applies the migrations not yet recorded in schema_migrations, in
// order, in one transaction. An advisory lock on the schema makes processes
// that start together take turns: the first migrates, the others then find
// nothing to do. A database migrated by a newer version of the program is
// refused rather than guessed at.
func migrate(ctx context.Context, conn *pgx.Conn, schema string, log *slog.Logger) (err error) {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	// A migration may take longer than the statement timeout of ordinary
	// statements.
	if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock(schema)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	latest := ms[len(ms)-1].Version
	applied := map[int]bool{}
	for _, v := range versions {
		if v > latest {
			return fmt.Errorf("migrate: the database has schema version %d, newer than this program's %d; run a newer chargebridge", v, latest)
		}
		applied[v] = true
	}
	var done []string
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.Version, m.Name, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("migrate: record %s: %w", m.Name, err)
		}
		done = append(done, m.Name)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	for _, name := range done {
		log.Info("database migration applied", "migration", name, "schema", schema)
	}
	return nil
}
