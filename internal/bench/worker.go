package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/chargebridge/chargebridge/internal/sim"
)

// rampEvery is how often a worker prints its ramp's progress.
const rampEvery = 30 * time.Second

// workerReport is what a worker prints, one JSON object per line.
type workerReport struct {
	Event      string          `json:"event"` // "ready" or "result"
	Connected  int64           `json:"connected"`
	Wanted     int             `json:"wanted"`
	DialErrors int64           `json:"dial_errors"`
	Errors     int64           `json:"errors"`
	CallErrors int64           `json:"call_errors"`
	Calls      uint64          `json:"calls"`
	Seconds    float64         `json:"seconds"`
	Latency    *sim.Histogram  `json:"latency,omitempty"`
	Sessions   int64           `json:"sessions_started"`
	Note       string          `json:"note,omitempty"`
	Raw        json.RawMessage `json:"-"`
}

// Worker runs one load process: a fleet of chargers of the simulator or of
// the external generator (--generator). It prints
// "ready" once its chargers are connected (or the ramp timed out), waits for
// a line on stdin, measures for the window and prints "result".
func Worker(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "OCPP base URL")
	n := fs.Int("chargers", 100, "chargers")
	prefix := fs.String("prefix", "B0-", "id prefix")
	src := fs.String("source", "", "source address to dial from (127.0.0.x)")
	scenario := fs.String("scenario", "idle", "idle, charging (mixed is the same: the name of charging with several nodes), saturation or paced; with -201 (saturation-201) the chargers speak OCPP 2.0.1")
	interval := fs.Duration("interval", time.Second, "paced: one MeterValues per charger per interval")
	meter := fs.Duration("meter-interval", 15*time.Second, "charging: MeterValues interval")
	ramp := fs.Duration("ramp-timeout", 2*time.Minute, "give up waiting for connections after this")
	window := fs.Duration("window", 10*time.Second, "measurement window")
	caFile := fs.String("ca", "", "CA certificate of a wss:// server")
	generator := fs.String("generator", GeneratorSim, "load generator: sim (chargebridge's simulator) or external (internal/bench/extgen: OCPP 1.6J on gorilla/websocket, sharing no code with the server; idle, saturation and paced)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lat := &sim.Histogram{}
	refusals := &tally{}
	var ld load
	var err error
	switch *generator {
	case GeneratorSim:
		ld, err = simLoad(*url, *prefix, *src, *scenario, *caFile, *n, *interval, *meter, lat, refusals)
	case GeneratorExternal:
		ld, err = externalLoad(*url, *prefix, *src, *scenario, *caFile, *n, *interval, lat)
	default:
		err = fmt.Errorf("--generator %q: want %s or %s", *generator, GeneratorSim, GeneratorExternal)
	}
	if err != nil {
		return err
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ld.run(fctx) }()
	defer func() { cancel(); <-done }()

	enc := json.NewEncoder(stdout)
	began := time.Now()
	deadline := began.Add(*ramp)
	last, stalled := int64(-1), time.Now()
	// The ramp's progress goes to stderr every rampEvery: how fast the
	// chargers connect and why attempts fail.
	var shown loadStats
	shownAt := began
	for {
		st := ld.stats()
		if time.Since(shownAt) >= rampEvery {
			fmt.Fprintln(stderr, rampLine(*prefix, time.Since(began), *n, st, shown, time.Since(shownAt), refusals))
			shown, shownAt = st, time.Now()
		}
		if st.Connected >= int64(*n) || time.Now().After(deadline) || time.Since(stalled) > 20*time.Second {
			fmt.Fprintln(stderr, rampLine(*prefix, time.Since(began), *n, st, shown, time.Since(shownAt), refusals))
			break
		}
		if st.Connected != last {
			last, stalled = st.Connected, time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	// Let boots, first statuses and session starts settle.
	time.Sleep(2 * time.Second)
	st := ld.stats()
	if err := enc.Encode(workerReport{Event: "ready", Connected: st.Connected, Wanted: *n, DialErrors: st.DialErrors, Errors: st.Errors}); err != nil {
		return err
	}
	line := bufio.NewReader(stdin)
	if _, err := line.ReadString('\n'); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	before := ld.stats()
	lat.Reset()
	start := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(*window):
	}
	secs := time.Since(start).Seconds()
	after := ld.stats()
	return enc.Encode(workerReport{
		Event: "result", Connected: after.Connected, Wanted: *n,
		DialErrors: after.DialErrors - before.DialErrors, Errors: after.Errors - before.Errors,
		CallErrors: after.CallErrors - before.CallErrors,
		Calls:      lat.Count(), Seconds: secs, Latency: lat, Sessions: after.SessionsStarted, Note: ld.note(before, after),
	})
}
