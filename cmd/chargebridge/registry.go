package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/server"
)

// withService opens the configured store and runs fn on a core service
// over it: registration commands write to the database directly, so they
// work whether or not a server is running.
func withService(ctx context.Context, cfg *server.Config, stderr io.Writer, fn func(*charging.Service) error) error {
	if err := cfg.ValidateStore(); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	st, err := server.OpenStore(ctx, cfg.DB, log)
	if err != nil {
		return err
	}
	err = fn(charging.NewService(st, charging.SystemClock{}, log, charging.Config{}))
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}

func runChargers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: chargebridge chargers add ID [--strict-timestamps] | chargebridge chargers list")
	}
	fs, cfg, configFile := configFlags("chargers "+args[0], stderr)
	strict := fs.Bool("strict-timestamps", false, "refuse timestamps without a time zone from this charger")
	switch args[0] {
	case "add":
		if err := parseConfig(fs, configFile, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("usage: chargebridge chargers add ID")
		}
		return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
			c, err := svc.RegisterCharger(ctx, charging.Charger{ID: fs.Arg(0), StrictTimestamps: *strict})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "charger %s registered; it connects to ws://HOST:PORT/ocpp/%s\n", c.ID, c.ID)
			return nil
		})
	case "list":
		if err := parseConfig(fs, configFile, args[1:]); err != nil {
			return err
		}
		return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
			cs, err := svc.Store().ListChargers(ctx)
			if err != nil {
				return err
			}
			return printJSON(stdout, cs)
		})
	}
	return fmt.Errorf("chargers: unknown subcommand %q; use add or list", args[0])
}

func runTags(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: chargebridge tags add TAG [--status Accepted] [--expires RFC3339] [--parent TAG] | chargebridge tags list")
	}
	fs, cfg, configFile := configFlags("tags "+args[0], stderr)
	status := fs.String("status", "Accepted", "Accepted, Blocked, Expired or Invalid")
	expires := fs.String("expires", "", "expiry date (RFC 3339)")
	parent := fs.String("parent", "", "parent id tag")
	switch args[0] {
	case "add":
		if err := parseConfig(fs, configFile, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("usage: chargebridge tags add TAG")
		}
		t := charging.IDTag{ID: fs.Arg(0), Status: charging.AuthStatus(*status), ParentID: *parent}
		if *expires != "" {
			e, err := time.Parse(time.RFC3339, *expires)
			if err != nil {
				return fmt.Errorf("--expires %q: use RFC 3339, e.g. 2027-01-01T00:00:00Z", *expires)
			}
			t.ExpiresAt = &e
		}
		return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
			t, err := svc.RegisterTag(ctx, t)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "id tag %s stored with status %s\n", t.ID, t.Status)
			return nil
		})
	case "list":
		if err := parseConfig(fs, configFile, args[1:]); err != nil {
			return err
		}
		return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
			ts, err := svc.Store().ListIDTags(ctx)
			if err != nil {
				return err
			}
			return printJSON(stdout, ts)
		})
	}
	return fmt.Errorf("tags: unknown subcommand %q; use add or list", args[0])
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
