package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/chargebridge/chargebridge/internal/server"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("serve", "[flags]", "Runs the central system: OCPP for chargers, OCPI, Beckn, the operator API, the dashboard and /metrics on one HTTP listener.", stdout)
	cfg := f.serverConfig()
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("serve: unexpected argument %q (chargebridge serve -h lists the flags)", pos[0])
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	srv, err := newServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	addr, err := srv.Start()
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	stopHUP := reloadOnSIGHUP(srv, log)
	defer stopHUP()
	log.Info("chargebridge is running", "http", addr.String(), "db", server.RedactDB(cfg.DB), "auto_register", cfg.AutoRegister)
	web, ws := "http", "ws"
	if cfg.Security.TLSCert != "" {
		web, ws = "https", "wss"
	}
	fmt.Fprintf(stdout, "chargebridge listening on %s://%s\n  chargers connect to %s://%s/ocpp/{chargePointId} (subprotocol ocpp1.6)\n  operator API %s://%s/api/v1/chargers\n", web, addr, ws, addr, web, addr)
	// Until Ctrl-C, or a component fails (Serve returns its error).
	return srv.Serve(ctx, 15*time.Second)
}

// newServer binds the listener, then opens the database and builds the
// server: a port in use fails before the database is opened (or created).
func newServer(ctx context.Context, cfg *server.Config, log *slog.Logger) (*server.Server, error) {
	ln, err := server.Listen(cfg.HTTP)
	if err != nil {
		return nil, err
	}
	srv, err := server.New(ctx, *cfg, log, server.Options{Listener: ln})
	if err != nil {
		ln.Close()
		return nil, err
	}
	return srv, nil
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("migrate", "[flags]", "Applies the database migrations and exits (serve does this at start too).", stdout)
	cfg := f.storeConfig()
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("migrate: unexpected argument %q", pos[0])
	}
	if err := cfg.ValidateStore(); err != nil {
		return err
	}
	st, err := server.OpenStore(ctx, cfg.DB, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "database is up to date:", server.RedactDB(cfg.DB))
	return st.Close()
}
