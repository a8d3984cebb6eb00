package clustertest

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// process is a `chargebridge serve` child process on dsn.
type process = cbtest.Process

func startServe(t *testing.T, bin, name, dsn string) *process {
	t.Helper()
	return cbtest.StartServe(t, bin, name, "", "--db", dsn, "--auto-register", "--accept-unknown-tags", "--log-level", "warn")
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
	bin := cbtest.BuildBinary(t)

	// Both start at once, so both race to migrate the empty schema.
	procs := []*process{startServe(t, bin, "node-a", dsn), startServe(t, bin, "node-b", dsn)}
	for _, p := range procs {
		p.WaitReady(t)
	}

	const chargersPerProcess, rounds = 4, 3
	var (
		mu   sync.Mutex
		runs []ran
	)
	t.Run("sessions", func(t *testing.T) {
		for _, p := range procs {
			for c := range chargersPerProcess {
				charger := fmt.Sprintf("%s-cp%d", p.Name, c+1)
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
			t.Logf("%s output:\n%s", p.Name, p.Out)
		}
		t.FailNow()
	}
	if want := 2 * chargersPerProcess * rounds * 2; len(runs) != want {
		t.Fatalf("got %d sessions run; want %d", len(runs), want)
	}
	byTx := map[string]ran{}
	for _, r := range runs {
		if prev, dup := byTx[strconv.FormatInt(r.tx, 10)]; dup {
			t.Errorf("transaction id %d handed to %s/%d (%s) and %s/%d (%s)", r.tx, prev.charger, prev.connector, prev.process, r.charger, r.connector, r.process)
		}
		byTx[strconv.FormatInt(r.tx, 10)] = r
	}

	for _, p := range procs {
		list := p.Sessions(t)
		if len(list) != len(runs) {
			t.Errorf("%s lists %d sessions; want %d", p.Name, len(list), len(runs))
		}
		for _, s := range list {
			r, ok := byTx[s.TransactionID]
			if !ok {
				t.Errorf("%s lists session %s with transaction %s that no charger ran", p.Name, s.ID, s.TransactionID)
				continue
			}
			wantKWh := float64(r.meterWh[1]-r.meterWh[0]) / 1000
			if s.ChargerID != r.charger || s.ConnectorID != r.connector || s.Status != charging.SessionCompleted ||
				math.Abs(s.KWh-wantKWh) > 1e-9 || s.MeterStopWh == nil || *s.MeterStopWh != r.meterWh[1] {
				t.Errorf("%s: session of transaction %s: got %s/%d %s %v kWh; want %s/%d completed %v kWh",
					p.Name, s.TransactionID, s.ChargerID, s.ConnectorID, s.Status, s.KWh, r.charger, r.connector, wantKWh)
			}
		}
		// One session in full, telemetry included, from each process.
		var full api.Session
		p.GetJSON(t, "/api/v1/sessions/"+list[0].ID, &full)
		if len(full.Samples) != 3 {
			t.Errorf("%s: session %s has %d samples; want 3 (two MeterValues and the stop's transactionData)", p.Name, full.ID, len(full.Samples))
		}
	}
	for _, p := range procs {
		p.Stop(t)
	}
}

// runCharger connects charger to p and runs rounds of two concurrent
// sessions, one per connector, each with two MeterValues and a stop with
// transactionData.
func runCharger(t *testing.T, p *process, charger string, rounds int) []ran {
	c, err := cbtest.DialURL(t, "ws"+p.Base[len("http"):]+"/ocpp/"+charger, "ocpp1.6")
	if err != nil {
		t.Fatalf("dial %s at %s: %v", charger, p.Name, err)
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
			r := ran{charger: charger, connector: conn, process: p.Name}
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
