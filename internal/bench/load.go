package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/bench/extgen"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// The load generators of a worker (Options.Generator, bench-worker
// --generator).
const (
	// GeneratorSim is chargebridge's simulator (internal/sim): every
	// scenario, OCPP 1.6J and 2.0.1.
	GeneratorSim = "sim"
	// GeneratorExternal is internal/bench/extgen, an OCPP 1.6J load
	// generator on gorilla/websocket that shares no code with the server
	// or the simulator: idle, saturation and paced.
	GeneratorExternal = "external"
)

// load is one worker's fleet, whichever generator drives it.
type load struct {
	run   func(context.Context) error
	stats func() loadStats
	// note describes the window's errors in the generator's own terms
	// ("" when there is nothing to add).
	note func(before, after loadStats) string
}

// loadStats are a fleet's counters.
type loadStats struct {
	Connected, DialErrors, Errors, CallErrors, SessionsStarted int64
	// Connects and Disconnects count connections opened and lost.
	Connects, Disconnects int64
	ext                   extgen.Stats
}

// simLoad is a fleet of the simulator.
func simLoad(url, prefix, src, scenario, caFile string, n int, interval, meter time.Duration, lat *sim.Histogram, refusals *tally) (load, error) {
	cfg := sim.Config{
		URL: url, IDPrefix: prefix, Connectors: 1, Latency: lat,
		Logger: slog.New(slog.DiscardHandler), MaxDialing: 128,
		CallTimeout: 60 * time.Second, ReconnectMin: 2 * time.Second, ReconnectMax: 30 * time.Second,
		NoAutoStart: true, OnRefusal: refusals.add,
	}
	if caFile != "" {
		t, err := sim.LoadTLS(caFile, "", "")
		if err != nil {
			return load{}, err
		}
		cfg.TLS = t
	}
	if src != "" {
		a, err := netip.ParseAddr(src)
		if err != nil {
			return load{}, fmt.Errorf("--source: %w", err)
		}
		cfg.LocalAddrs = []netip.Addr{a}
	}
	// A name ending in -201 runs the scenario with OCPP 2.0.1 stations:
	// TransactionEvent Updated where 1.6 sends MeterValues.
	name, v201 := strings.CutSuffix(scenario, "-201")
	if v201 {
		cfg.Protocol = "2.0.1"
	}
	switch name {
	case "idle":
	case "charging", "mixed": // mixed: charging over several nodes
		cfg.NoAutoStart = false
		cfg.Connectors = 2
		cfg.MeterInterval = meter
		cfg.IdleTime = sim.DurationRange{Min: time.Second, Max: 5 * time.Second}
		cfg.FinishingTime = sim.DurationRange{Min: time.Second, Max: 2 * time.Second}
		tags := make([]string, 4*n)
		for i := range tags {
			tags[i] = fmt.Sprintf("%sT%d", prefix, i)
		}
		cfg.IDTags = tags
	case "saturation":
		cfg.Saturate = true
	case "paced":
		cfg.Saturate = true
		cfg.SaturateInterval = interval
	default:
		return load{}, fmt.Errorf("unknown scenario %q", scenario)
	}
	fleet, err := sim.NewFleet(cfg, n)
	if err != nil {
		return load{}, err
	}
	return load{
		run: fleet.Run,
		stats: func() loadStats {
			st := fleet.Stats()
			return loadStats{Connected: st.Connected, DialErrors: st.DialErrors, Errors: st.Errors,
				CallErrors: st.CallErrors, SessionsStarted: st.SessionsStarted,
				Connects: st.Connects, Disconnects: st.Disconnects}
		},
		note: func(loadStats, loadStats) string { return "" },
	}, nil
}

// externalLoad is a fleet of the external generator. Its latencies go to
// lat (the histogram is only the report's sink: the generator times each
// call itself). Every call that did not end in a usable CALLRESULT is a
// call error: a CALLERROR, a refusal, a timeout or an unreadable answer.
func externalLoad(url, prefix, src, scenario, caFile string, n int, interval time.Duration, lat *sim.Histogram) (load, error) {
	if caFile != "" {
		return load{}, fmt.Errorf("the external generator speaks plain ws:// only (no --tls)")
	}
	var mode extgen.Mode
	switch scenario {
	case "idle":
		mode = extgen.Idle
	case "saturation":
		mode = extgen.Saturation
	case "paced":
		mode = extgen.Paced
	default:
		return load{}, fmt.Errorf("scenario %q: the external generator runs idle, saturation and paced (OCPP 1.6J)", scenario)
	}
	g, err := extgen.New(extgen.Config{URL: url, Chargers: n, IDPrefix: prefix, Mode: mode, Interval: interval,
		LocalAddr: src, CallTimeout: 60 * time.Second, MaxDialing: 128, Record: lat.Record})
	if err != nil {
		return load{}, err
	}
	return load{
		run: g.Run,
		stats: func() loadStats {
			st := g.Stats()
			return loadStats{Connected: st.Connected, DialErrors: st.DialErrors, Errors: st.Disconnects,
				CallErrors: st.Failed(), SessionsStarted: st.Transactions, Disconnects: st.Disconnects, ext: st}
		},
		note: func(before, after loadStats) string {
			b, a := before.ext, after.ext
			return fmt.Sprintf("external generator: %d calls, %d acknowledged (%d MeterValues), %d CALLERROR, %d refused, %d timed out, %d unreadable, %d server calls refused, %d disconnects",
				a.Calls-b.Calls, a.Acknowledged-b.Acknowledged, a.MeterValues-b.MeterValues, a.CallErrors-b.CallErrors,
				a.Refused-b.Refused, a.Timeouts-b.Timeouts, a.BadFrames-b.BadFrames, a.ServerCalls-b.ServerCalls, a.Disconnects-b.Disconnects)
		},
	}, nil
}
