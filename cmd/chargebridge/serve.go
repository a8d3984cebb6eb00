package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/chargebridge/chargebridge/internal/server"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfg, configFile := configFlags("serve", stderr)
	if err := parseConfig(fs, configFile, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	srv, err := server.New(ctx, *cfg, log, server.Options{})
	if err != nil {
		return err
	}
	addr, err := srv.Start()
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	log.Info("chargebridge is running", "http", addr.String(), "db", server.RedactDB(cfg.DB), "auto_register", cfg.AutoRegister)
	fmt.Fprintf(stdout, "chargebridge listening on http://%s\n  chargers connect to ws://%s/ocpp/{chargePointId} (subprotocol ocpp1.6)\n  operator API http://%s/api/v1/chargers\n", addr, addr, addr)
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfg, configFile := configFlags("migrate", stderr)
	if err := parseConfig(fs, configFile, args); err != nil {
		return err
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
