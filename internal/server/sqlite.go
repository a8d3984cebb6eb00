package server

import (
	"context"

	"github.com/chargebridge/chargebridge/internal/store/sqlite"
)

func openSQLite(ctx context.Context, path string) (Store, error) {
	return sqlite.Open(ctx, path)
}
