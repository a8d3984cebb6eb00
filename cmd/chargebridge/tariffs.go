package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/chargebridge/chargebridge/internal/tariff"
)

func runTariffs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "price" {
		return errors.New("usage: chargebridge tariffs price --tariff TARIFF.json --cdr CDR.json [--tz Europe/Amsterdam]")
	}
	fs := flag.NewFlagSet("tariffs price", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tariffFile := fs.String("tariff", "", "OCPI 2.2.1 Tariff object (JSON file)")
	cdrFile := fs.String("cdr", "", "OCPI 2.2.1 CDR whose charging_periods to price (JSON file)")
	tz := fs.String("tz", "", "time zone of the location (IANA name); default: the CDR location's time_zone, else UTC")
	if err := fs.Parse(args[1:]); err != nil {
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
