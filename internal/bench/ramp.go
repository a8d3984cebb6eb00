package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// tally counts the refusals a fleet heard, by kind and reason.
type tally struct {
	mu sync.Mutex
	n  map[string]int64
}

// localPort is a dialer's own address and port in an error ("read tcp
// 127.0.0.2:41234->127.0.0.1:8080: …"), which would make every attempt's
// reason a different one.
var localPort = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+->`)

func (t *tally) add(kind, reason string) {
	if t == nil {
		return
	}
	key := kind + ": " + localPort.ReplaceAllString(reason, "")
	t.mu.Lock()
	if t.n == nil {
		t.n = map[string]int64{}
	}
	t.n[key]++
	t.mu.Unlock()
}

// top returns the k most frequent reasons with their counts, most
// frequent first, and how many refusals the others count.
func (t *tally) top(k int) (string, int64) {
	t.mu.Lock()
	type kv struct {
		key string
		n   int64
	}
	all := make([]kv, 0, len(t.n))
	for key, n := range t.n {
		all = append(all, kv{key, n})
	}
	t.mu.Unlock()
	slices.SortFunc(all, func(a, b kv) int { return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.key, b.key)) })
	var b strings.Builder
	var rest int64
	for i, x := range all {
		if i >= k {
			rest += x.n
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%d× %.160s", x.n, x.key)
	}
	return b.String(), rest
}

// rampLine is one line of a worker's progress while its chargers connect.
func rampLine(prefix string, elapsed time.Duration, wanted int, st, prev loadStats, since time.Duration, refusals *tally) string {
	rate := 0.0
	if since > 0 {
		rate = float64(st.Connected-prev.Connected) / since.Seconds()
	}
	line := fmt.Sprintf("   worker %s %4.0fs: %d of %d connected (%+.0f/s), %d connects, %d disconnects, %d failed dials",
		prefix, elapsed.Seconds(), st.Connected, wanted, rate, st.Connects, st.Disconnects, st.DialErrors)
	if top, rest := refusals.top(3); top != "" {
		line += "; refusals: " + top
		if rest > 0 {
			line += fmt.Sprintf("; %d others", rest)
		}
	}
	return line
}

// watchNodes prints the nodes' connection counters every interval until
// ctx ends: the chargers they hold, accepted and refused connections
// since the last line, handshakes in progress and given up, and each
// node's CPU (cores) over the interval, with the machine's load average.
func watchNodes(ctx context.Context, nodes []*node, every time.Duration, w io.Writer) {
	start := time.Now()
	type snap struct{ conn, acc, ref, gave, cpu float64 }
	prev := make([]snap, len(nodes))
	at := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		secs := now.Sub(at).Seconds()
		var held, acc, ref, gave float64
		cpus := make([]string, len(nodes))
		var silent []string
		for i, n := range nodes {
			cpu := cpuTime(n.cmd.Process.Pid)
			cpus[i] = fmt.Sprintf("%.2f", (cpu-prev[i].cpu)/secs)
			m := scrape(ctx, "http://"+n.addr+"/metrics", "")
			if m == nil {
				// A node too busy to answer in time: its counters are
				// counted at the next line that reads them.
				silent = append(silent, n.id)
				prev[i].cpu = cpu
				continue
			}
			s := snap{m["chargebridge_chargers_connected"], m["chargebridge_ocpp_connections_accepted_total"],
				m["chargebridge_ocpp_connections_refused_total"], m["chargebridge_ocpp_handshakes_abandoned_total"], cpu}
			held += s.conn
			acc += s.acc - prev[i].acc
			ref += s.ref - prev[i].ref
			gave += s.gave - prev[i].gave
			prev[i] = s
		}
		if ctx.Err() != nil { // the fleet is up: scrapes cut short say nothing
			return
		}
		at = now
		line := fmt.Sprintf("   nodes %4.0fs: %.0f held, %.0f accepted (%.0f/s), %.0f refused, %.0f gave up; CPU cores %s; load %s",
			now.Sub(start).Seconds(), held, acc, acc/secs, ref, gave, strings.Join(cpus, " "), loadAvg())
		if len(silent) > 0 {
			line += fmt.Sprintf("; no metrics from %s (not counted)", strings.Join(silent, " "))
		}
		fmt.Fprintln(w, line)
	}
}

// loadAvg is the machine's 1-minute load average ("?" when unknown).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
