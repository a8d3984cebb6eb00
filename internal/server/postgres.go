package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/chargebridge/chargebridge/internal/store/postgres"
)

// openPostgres opens the PostgreSQL database of a postgres:// URL. Its
// errors name the server, user and database, never the password.
func openPostgres(ctx context.Context, dsn string, log *slog.Logger, observe func(time.Duration)) (Store, error) {
	opts := []postgres.Option{postgres.WithLogger(log)}
	if observe != nil {
		opts = append(opts, postgres.WithCommitObserver(observe))
	}
	return postgres.Open(ctx, dsn, opts...)
}
