package server

import (
	"context"
	"log/slog"

	"github.com/chargebridge/chargebridge/internal/store/postgres"
)

// openPostgres opens the PostgreSQL database of a postgres:// URL. Its
// errors name the server, user and database, never the password.
func openPostgres(ctx context.Context, dsn string, log *slog.Logger) (Store, error) {
	return postgres.Open(ctx, dsn, postgres.WithLogger(log))
}
