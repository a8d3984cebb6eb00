package main

import (
	"context"
	"errors"
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

func tariffsCommands() map[string]command {
	return map[string]command{
		"add":    {summary: "store an OCPI 2.2.1 tariff from a JSON file (replaces one with its id)", run: runTariffsAdd},
		"list":   {summary: "list tariffs and their assignments", run: runTariffsList},
		"assign": {summary: "price a charger's (or connector's) sessions with a tariff, or set the default", run: runTariffsAssign},
		"delete": {summary: "delete a tariff that nothing is assigned", run: runTariffsDelete},
		"price":  {summary: "price an OCPI CDR's charging periods with an OCPI tariff (files; no database)", run: runTariffsPrice},
	}
}

// withCatalog runs fn on the tariff catalog in the configured database.
func withCatalog(ctx context.Context, cfg *server.Config, stderr io.Writer, fn func(*pricing.Catalog) error) error {
	return withService(ctx, cfg, stderr, func(svc *charging.Service) error {
		docs, err := svc.Docs()
		if err != nil {
			return fmt.Errorf("tariffs: %w", err)
		}
		cat := pricing.NewCatalog(docs, svc.Store(), svc.Clock(), nil)
		if ep, ok := svc.Store().(charging.EventPort); ok {
			// A running server pushes the change to eMSPs (OCPI) when it
			// reads the event; one that is stopped, when it starts.
			cat.AnnounceTo(ep)
		}
		return fn(cat)
	})
}

func runTariffsAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("tariffs add", "FILE.json [flags]", "Stores a validated OCPI 2.2.1 tariff, replacing one with the same id; a file with problems is refused with every problem listed. "+storeNote, stdout)
	cfg := f.storeConfig()
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: chargebridge tariffs add FILE.json [flags]")
	}
	b, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	t, err := tariff.ParseTariff(b)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	return withCatalog(ctx, cfg, stderr, func(c *pricing.Catalog) error {
		created, err := c.PutTariff(ctx, t)
		var ve *tariff.ValidationError
		if errors.As(err, &ve) {
			lines := make([]string, len(ve.Problems))
			for i, p := range ve.Problems {
				lines[i] = "  " + p.String()
			}
			return fmt.Errorf("%s is not a valid OCPI 2.2.1 tariff:\n%s", pos[0], strings.Join(lines, "\n"))
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
}

func runTariffsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("tariffs list", "[flags]", "Lists the tariffs and which chargers and connectors they price. "+storeNote, stdout)
	cfg := f.storeConfig()
	asJSON := f.Bool("json", false, "print JSON (for scripts: the default, the assignments and the OCPI tariff objects) instead of tables")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("usage: chargebridge tariffs list [flags]")
	}
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
		if out.Tariffs == nil {
			out.Tariffs = []*tariff.Tariff{}
		}
		if *asJSON {
			return printJSON(stdout, out)
		}
		if len(ts) == 0 {
			fmt.Fprintln(stdout, "no tariffs (add one with chargebridge tariffs add FILE.json); sessions are not priced")
			return nil
		}
		tw := table(stdout, "TARIFF", "CURRENCY", "ELEMENTS", "PRICES", "DEFAULT", "LAST UPDATED")
		for _, t := range ts {
			tw.row(t.ID, t.Currency, fmt.Sprint(len(t.Elements)), orDash(priceSummary(t)), yesNo(t.ID == out.Default), t.LastUpdated.UTC().Format(time.RFC3339))
		}
		if err := tw.flush(); err != nil {
			return err
		}
		if len(out.Assignments) > 0 {
			fmt.Fprintln(stdout)
			tw = table(stdout, "ASSIGNED TO", "TARIFF")
			for _, a := range out.Assignments {
				tw.row(a.String(), a.TariffID)
			}
			return tw.flush()
		}
		return nil
	})
}

// priceSummary lists a tariff's price components, e.g. "ENERGY 0.35,
// PARKING_TIME 3.00".
func priceSummary(t *tariff.Tariff) string {
	var parts []string
	for _, e := range t.Elements {
		for _, pc := range e.PriceComponents {
			parts = append(parts, fmt.Sprintf("%s %s", pc.Type, pc.Price.String()))
		}
	}
	return strings.Join(parts, ", ")
}

func runTariffsAssign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("tariffs assign", "(--charger ID [--connector N] | --default) (--tariff TARIFF_ID | --clear) [flags]",
		"Says which tariff prices a connector's sessions: the connector's own, else its charger's, else the default. "+storeNote, stdout)
	cfg := f.storeConfig()
	var (
		charger   = f.String("charger", "", "the charger")
		connector = f.Int("connector", 0, "the connector (default: every connector of the charger)")
		tariffID  = f.String("tariff", "", "the tariff id")
		def       = f.Bool("default", false, "the default tariff, for connectors without one")
		remove    = f.Bool("clear", false, "remove the assignment instead")
	)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || (*tariffID == "") == !*remove || (*charger == "") == !*def {
		return usagef("usage: chargebridge tariffs assign (--charger ID [--connector N] | --default) (--tariff TARIFF_ID | --clear)")
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
}

func runTariffsDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("tariffs delete", "TARIFF_ID [flags]", "Deletes a tariff; one still assigned is refused (clear its assignments first). "+storeNote, stdout)
	cfg := f.storeConfig()
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: chargebridge tariffs delete TARIFF_ID [flags]")
	}
	return withCatalog(ctx, cfg, stderr, func(c *pricing.Catalog) error {
		if err := c.DeleteTariff(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "tariff %s deleted\n", pos[0])
		return nil
	})
}

func runTariffsPrice(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tariffs price", "--tariff T.json --cdr C.json [--tz ZONE]", "Prices an OCPI 2.2.1 CDR's charging periods with an OCPI 2.2.1 tariff and prints the CDR totals as JSON. It reads the two files only.", stdout)
	tariffFile := fs.String("tariff", "", "OCPI 2.2.1 Tariff object (JSON file)")
	cdrFile := fs.String("cdr", "", "OCPI 2.2.1 CDR whose charging_periods to price (JSON file)")
	tz := fs.String("tz", "", "time zone of the location (IANA name); default: the CDR location's time_zone, else UTC")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if *tariffFile == "" || *cdrFile == "" || len(pos) != 0 {
		return usagef("tariffs price: both --tariff and --cdr are required")
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
