package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/chargebridge/chargebridge/internal/sim"
)

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim", "[flags]", "Runs simulated OCPP 1.6J chargers against a central system (chargebridge or another) and prints progress every 5 s.", stdout)
	url := fs.String("url", "ws://127.0.0.1:8080/ocpp", "central system's OCPP base URL; chargers connect to URL/{id}")
	n := fs.Int("chargers", 1, "number of simulated chargers")
	k := fs.Int("connectors", 2, "connectors per charger")
	prefix := fs.String("prefix", "SIM-", "charger id prefix (ids are PREFIX00001, …)")
	meter := fs.Duration("meter-interval", time.Minute, "MeterValues interval")
	scale := fs.Float64("time-scale", 1, "battery speed-up: one second charges like this many")
	duration := fs.Duration("duration", 0, "stop after this long (0 runs until Ctrl-C)")
	drop := fs.Float64("fault-drop", 0, "probability a session's connection drops mid-transaction")
	offline := fs.Float64("fault-offline", 0, "probability a charger goes offline during a session")
	retry := fs.Float64("fault-retry-start", 0, "probability a StartTransaction is sent twice")
	naive := fs.Float64("fault-naive-timestamps", 0, "probability a message's timestamps lack a zone")
	malformed := fs.Float64("fault-malformed", 0, "probability a heartbeat is sent as a malformed frame")
	reboot := fs.Float64("fault-reboot", 0, "probability a charger reboots mid-transaction without StopTransaction")
	verbose := fs.Bool("v", false, "log every charger's activity")
	password := fs.String("password", "", "Basic-auth password of every charger (security profiles 1 and 2; default $CHARGEBRIDGE_SIM_PASSWORD)")
	caFile := fs.String("ca", "", "CA certificate (PEM) that signs the central system's TLS certificate, for wss:// URLs")
	certFile := fs.String("cert", "", "client certificate (PEM) for security profile 3")
	keyFile := fs.String("key", "", "private key (PEM) of --cert")
	if _, err := fs.parse(args); err != nil {
		return err
	}
	if *password == "" {
		*password = os.Getenv("CHARGEBRIDGE_SIM_PASSWORD")
	}
	tlsCfg, err := sim.LoadTLS(*caFile, *certFile, *keyFile)
	if err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	fleet, err := sim.NewFleet(sim.Config{
		URL: *url, Password: *password, TLS: tlsCfg, IDPrefix: *prefix, Connectors: *k, MeterInterval: *meter, TimeScale: *scale, Logger: log,
		Faults: sim.Faults{DropConnection: *drop, GoOffline: *offline, RetryStart: *retry, NaiveTimestamps: *naive,
			MalformedFrame: *malformed, RebootMidTransaction: *reboot},
	}, *n)
	if err != nil {
		return err
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	done := make(chan error, 1)
	go func() { done <- fleet.Run(ctx) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			st := fleet.Stats()
			fmt.Fprintf(stdout, "done: %d sessions started, %d completed, %.1f kWh, %d calls, %d errors\n",
				st.SessionsStarted, st.SessionsCompleted, st.EnergyKWh, st.CallsSent, st.Errors)
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return err
		case <-tick.C:
			st := fleet.Stats()
			fmt.Fprintf(stdout, "connected %d/%d · sessions started %d, completed %d · %.1f kWh · calls %d · errors %d\n",
				st.Connected, *n, st.SessionsStarted, st.SessionsCompleted, st.EnergyKWh, st.CallsSent, st.Errors)
		}
	}
}
