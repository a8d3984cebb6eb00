package clustertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// process is a `chargebridge serve` child process.
type process struct {
	name string
	base string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
	out  *syncBuffer
	// exited is closed when the process has exited, with err its status.
	exited chan struct{}
	err    error
}

// buildBinary builds cmd/chargebridge into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command to build chargebridge with")
		}
	}
	bin := filepath.Join(t.TempDir(), "chargebridge")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/chargebridge/chargebridge/cmd/chargebridge")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/chargebridge: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a port nothing listens on now. serve needs a concrete
// port, so there is a short window in which another program could take it.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startServe(t *testing.T, bin, name, dsn string) *process {
	t.Helper()
	addr := freePort(t)
	p := &process{name: name, base: "http://" + addr, out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--db", dsn, "--http", addr, "--auto-register", "--accept-unknown-tags", "--log-level", "warn")
	// Flags win over CHARGEBRIDGE_* variables, but a --config file from
	// the environment could still add settings: run without one.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return len(kv) > 19 && kv[:19] == "CHARGEBRIDGE_CONFIG" })
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitReady polls /readyz until the process serves.
func (p *process) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			t.Fatalf("%s exited before it was ready: %v\n%s", p.name, p.err, p.out)
		default:
		}
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready after 30s:\n%s", p.name, p.out)
}

// stop interrupts the process and waits for a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Errorf("interrupt %s: %v", p.name, err)
	}
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("%s exited with %v:\n%s", p.name, p.err, p.out)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("%s did not stop within 20s:\n%s", p.name, p.out)
	}
}

func (p *process) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		t.Fatalf("%s: GET %s: %v", p.name, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET %s: status %d", p.name, path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: GET %s: %v", p.name, path, err)
	}
}

// allSessions pages through a process's session list.
func (p *process) allSessions(t *testing.T) []api.Session {
	t.Helper()
	var all []api.Session
	cursor := ""
	for range 100 {
		var page struct {
			Items      []api.Session `json:"items"`
			NextCursor string        `json:"next_cursor"`
		}
		p.getJSON(t, "/api/v1/sessions?limit=20&cursor="+cursor, &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
	t.Fatalf("%s: session list does not end", p.name)
	return nil
}

// ran is a session a simulated charger went through, as the charger saw it.
type ran struct {
	charger   string
	connector int
	tx        int64
	process   string
	meterWh   [2]int64 // start, stop
}

// TestTwoProcesses runs two chargebridge processes on one database, each
// with its own chargers, and sessions on both at the same time. Every
// session must be complete with the right energy, seen alike through both
// processes' APIs, and no transaction id may be handed out twice.
func TestTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the chargebridge binary; skipped with -short")
	}
	dsn := pgtest.Schema(t)
	bin := buildBinary(t)

	// Both start at once, so both race to migrate the empty schema.
	procs := []*process{startServe(t, bin, "node-a", dsn), startServe(t, bin, "node-b", dsn)}
	for _, p := range procs {
		p.waitReady(t)
	}

	const chargersPerProcess, rounds = 4, 3
	var (
		mu   sync.Mutex
		runs []ran
	)
	t.Run("sessions", func(t *testing.T) {
		for _, p := range procs {
			for c := range chargersPerProcess {
				charger := fmt.Sprintf("%s-cp%d", p.name, c+1)
				t.Run(charger, func(t *testing.T) {
					t.Parallel()
					got := runCharger(t, p, charger, rounds)
					mu.Lock()
					runs = append(runs, got...)
					mu.Unlock()
				})
			}
		}
	})
	if t.Failed() {
		for _, p := range procs {
			t.Logf("%s output:\n%s", p.name, p.out)
		}
		t.FailNow()
	}
	if want := 2 * chargersPerProcess * rounds * 2; len(runs) != want {
		t.Fatalf("got %d sessions run; want %d", len(runs), want)
	}
	byTx := map[int64]ran{}
	for _, r := range runs {
		if prev, dup := byTx[r.tx]; dup {
			t.Errorf("transaction id %d handed to %s/%d (%s) and %s/%d (%s)", r.tx, prev.charger, prev.connector, prev.process, r.charger, r.connector, r.process)
		}
		byTx[r.tx] = r
	}

	for _, p := range procs {
		list := p.allSessions(t)
		if len(list) != len(runs) {
			t.Errorf("%s lists %d sessions; want %d", p.name, len(list), len(runs))
		}
		for _, s := range list {
			r, ok := byTx[s.TransactionID]
			if !ok {
				t.Errorf("%s lists session %s with transaction %d that no charger ran", p.name, s.ID, s.TransactionID)
				continue
			}
			wantKWh := float64(r.meterWh[1]-r.meterWh[0]) / 1000
			if s.ChargerID != r.charger || s.ConnectorID != r.connector || s.Status != charging.SessionCompleted ||
				math.Abs(s.KWh-wantKWh) > 1e-9 || s.MeterStopWh == nil || *s.MeterStopWh != r.meterWh[1] {
				t.Errorf("%s: session of transaction %d: got %s/%d %s %v kWh; want %s/%d completed %v kWh",
					p.name, s.TransactionID, s.ChargerID, s.ConnectorID, s.Status, s.KWh, r.charger, r.connector, wantKWh)
			}
		}
		// One session in full, telemetry included, from each process.
		var full api.Session
		p.getJSON(t, "/api/v1/sessions/"+list[0].ID, &full)
		if len(full.Samples) != 3 {
			t.Errorf("%s: session %s has %d samples; want 3 (two MeterValues and the stop's transactionData)", p.name, full.ID, len(full.Samples))
		}
	}
	for _, p := range procs {
		p.stop(t)
	}
}

// runCharger connects charger to p and runs rounds of two concurrent
// sessions, one per connector, each with two MeterValues and a stop with
// transactionData.
func runCharger(t *testing.T, p *process, charger string, rounds int) []ran {
	c, err := cbtest.DialURL(t, "ws"+p.base[len("http"):]+"/ocpp/"+charger, "ocpp1.6")
	if err != nil {
		t.Fatalf("dial %s at %s: %v", charger, p.name, err)
	}
	defer c.Close()
	var boot struct{ Status string }
	c.MustCall("BootNotification", map[string]any{"chargePointVendor": "Acme", "chargePointModel": "AC22"}, &boot)
	if boot.Status != "Accepted" {
		t.Fatalf("%s boot: got %s; want Accepted", charger, boot.Status)
	}
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	ts := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	meter := func(at time.Duration, wh int64) map[string]any {
		return map[string]any{"timestamp": ts(at), "sampledValue": []map[string]any{
			{"value": fmt.Sprint(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
			{"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
		}}
	}
	var out []ran
	for round := range rounds {
		base := time.Duration(round) * 2 * time.Hour
		var txs [2]ran
		for conn := 1; conn <= 2; conn++ {
			r := ran{charger: charger, connector: conn, process: p.name}
			r.meterWh[0] = int64(100000*round + 10000*conn)
			var start struct {
				TransactionID int64                   `json:"transactionId"`
				IDTagInfo     struct{ Status string } `json:"idTagInfo"`
			}
			c.MustCall("StartTransaction", map[string]any{"connectorId": conn, "idTag": fmt.Sprintf("T-%s-%d", charger, conn),
				"meterStart": r.meterWh[0], "timestamp": ts(base)}, &start)
			if start.TransactionID <= 0 || start.IDTagInfo.Status != "Accepted" {
				t.Fatalf("%s/%d start: got transaction %d, %s; want an id, Accepted", charger, conn, start.TransactionID, start.IDTagInfo.Status)
			}
			r.tx = start.TransactionID
			txs[conn-1] = r
		}
		for i := 1; i <= 2; i++ {
			for j := range txs {
				r := &txs[j]
				c.MustCall("MeterValues", map[string]any{"connectorId": r.connector, "transactionId": r.tx,
					"meterValue": []any{meter(base+time.Duration(i)*15*time.Minute, r.meterWh[0]+int64(i)*2500+int64(j)*7)}}, nil)
			}
		}
		for j := range txs {
			r := &txs[j]
			r.meterWh[1] = r.meterWh[0] + 7000 + int64(j)*111
			c.MustCall("StopTransaction", map[string]any{"transactionId": r.tx, "meterStop": r.meterWh[1], "timestamp": ts(base + time.Hour),
				"reason": "EVDisconnected", "transactionData": []any{meter(base+time.Hour, r.meterWh[1])}}, nil)
			out = append(out, *r)
		}
	}
	return out
}
