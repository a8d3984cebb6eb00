package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

const tariffsUsage = `usage:
  chargebridge tariffs add FILE.json                 store an OCPI 2.2.1 tariff (replaces one with its id)
  chargebridge tariffs list                          tariffs and their assignments, as JSON
  chargebridge tariffs assign --charger ID [--connector N] --tariff TARIFF_ID
                                                     price a charger's sessions (or one connector's) with a tariff
  chargebridge tariffs assign --default --tariff TARIFF_ID
                                                     the tariff of connectors without one
  chargebridge tariffs assign (--charger ID [--connector N] | --default) --clear
  chargebridge tariffs delete TARIFF_ID
  chargebridge tariffs price --tariff T.json --cdr C.json [--tz Europe/Amsterdam]
the commands that write work on the database (--db) directly, like chargers add`

func runTariffs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(tariffsUsage)
	}
	switch args[0] {
	case "price":
		return runTariffsPrice(args[1:], stdout, stderr)
	case "add", "list", "assign", "delete":
		return runTariffCatalog(ctx, args[0], args[1:], stdout, stderr)
	}
	return fmt.Errorf("tariffs: unknown subcommand %q\n%s", args[0], tariffsUsage)
}

// withCatalog runs fn on the tariff catalog in the configured database.
func withCatalog(ctx context.Context, cfg *server.Config, stderr io.Writer, fn func(*pricing.Catalog) error) error {
	return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
		docs, err := svc.Docs()
		if err != nil {
			return fmt.Errorf("tariffs: %w", err)
		}
		return fn(pricing.NewCatalog(docs, svc.Store(), svc.Clock(), nil))
	})
}

func runTariffCatalog(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	fs, cfg, configFile := configFlags("tariffs "+sub, stderr)
	var (
		charger   = fs.String("charger", "", "assign: the charger")
		connector = fs.Int("connector", 0, "assign: the connector (default: every connector of the charger)")
		tariffID  = fs.String("tariff", "", "assign: the tariff id")
		def       = fs.Bool("default", false, "assign: the default tariff, for connectors without one")
		remove    = fs.Bool("clear", false, "assign: remove the assignment instead")
	)
	if err := parseConfig(fs, configFile, args); err != nil {
		return err
	}
	switch sub {
	case "add":
		if fs.NArg() != 1 {
			return errors.New("usage: chargebridge tariffs add FILE.json")
		}
		b, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return err
		}
		t, err := tariff.ParseTariff(b)
		if err != nil {
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
		return withCatalog(ctx, cfg, stderr, func(c *pricing.Catalog) error {
			created, err := c.PutTariff(ctx, t)
			var ve *tariff.ValidationError
			if errors.As(err, &ve) {
				lines := make([]string, len(ve.Problems))
				for i, p := range ve.Problems {
					lines[i] = "  " + p.String()
				}
				return fmt.Errorf("%s is not a valid OCPI 2.2.1 tariff:\n%s", fs.Arg(0), strings.Join(lines, "\n"))
			}
			if err != nil {
				return err
			}
			verb := "replaced"
			if created {
				verb = "added"
			}
			fmt.Fprintf(stdout, "tariff %s %s (%s, %d elements); assign it with: chargebridge tariffs assign --charger ID --tariff %s\n", t.ID, verb, t.Currency, len(t.Elements), t.ID)
			return nil
		})
	case "list":
		return withCatalog(ctx, cfg, stderr, func(c *pricing.Catalog) error {
			ts, err := c.Tariffs(ctx)
			if err != nil {
				return err
			}
			as, err := c.Assignments(ctx)
			if err != nil {
				return err
			}
			out := struct {
				Default     string               `json:"default,omitempty"`
				Assignments []pricing.Assignment `json:"assignments"`
				Tariffs     []*tariff.Tariff     `json:"tariffs"`
			}{Assignments: []pricing.Assignment{}, Tariffs: ts}
			for _, a := range as {
				if a.Default {
					out.Default = a.TariffID
				} else {
					out.Assignments = append(out.Assignments, a)
				}
			}
			return printJSON(stdout, out)
		})
	case "assign":
		if fs.NArg() != 0 || (*tariffID == "") == !*remove || (*charger == "") == !*def {
			return errors.New("usage: chargebridge tariffs assign (--charger ID [--connector N] | --default) (--tariff TARIFF_ID | --clear)")
		}
		return withCatalog(ctx, cfg, stderr, func(c *pricing.Catalog) error {
			a, err := c.Assign(ctx, pricing.Assignment{Default: *def, ChargerID: *charger, ConnectorID: *connector, TariffID: *tariffID})
			if err != nil {
				return err
			}
			if *remove {
				fmt.Fprintf(stdout, "%s has no tariff of its own now\n", a)
			} else {
				fmt.Fprintf(stdout, "tariff %s prices the sessions of %s\n", a.TariffID, a)
			}
			return nil
		})
	case "delete":
		if fs.NArg() != 1 {
			return errors.New("usage: chargebridge tariffs delete TARIFF_ID")
		}
		return withCatalog(ctx, cfg, stderr, func(c *pricing.Catalog) error {
			if err := c.DeleteTariff(ctx, fs.Arg(0)); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "tariff %s deleted\n", fs.Arg(0))
			return nil
		})
	}
	return errors.New(tariffsUsage)
}

func runTariffsPrice(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tariffs price", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tariffFile := fs.String("tariff", "", "OCPI 2.2.1 Tariff object (JSON file)")
	cdrFile := fs.String("cdr", "", "OCPI 2.2.1 CDR whose charging_periods to price (JSON file)")
	tz := fs.String("tz", "", "time zone of the location (IANA name); default: the CDR location's time_zone, else UTC")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tariffFile == "" || *cdrFile == "" {
		return errors.New("tariffs price: both --tariff and --cdr are required")
	}
	tb, err := os.ReadFile(*tariffFile)
	if err != nil {
		return err
	}
	cb, err := os.ReadFile(*cdrFile)
	if err != nil {
		return err
	}
	var loc *time.Location
	if *tz != "" {
		if loc, err = time.LoadLocation(*tz); err != nil {
			return fmt.Errorf("--tz %q: %w (use an IANA name such as Europe/Amsterdam)", *tz, err)
		}
	} else if loc, err = tariff.CDRLocation(cb); err != nil {
		return fmt.Errorf("%s: %w", *cdrFile, err)
	}
	totals, err := tariff.PriceCDR(tb, cb, loc)
	if err != nil {
		return err
	}
	return printJSON(stdout, totals)
}
