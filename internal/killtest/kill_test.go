package killtest

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// acked is what one charger's transaction got acknowledged.
type acked struct {
	charger   string
	tx        int64
	meterWh   int64
	samples   []time.Time // MeterValues timestamps answered with a CALLRESULT
	highestWh int64
}

// TestKill9UnderLoadLosesNothingAcknowledged runs chargers sending
// MeterValues back to back against `chargebridge serve`, on SQLite and on
// PostgreSQL, kills it with SIGKILL mid-stream, three times, then checks on
// a fresh start that every StartTransaction and MeterValues that was
// answered is stored.
func TestKill9UnderLoadLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the chargebridge binary; skipped with -short")
	}
	bin := cbtest.BuildBinary(t)
	t.Run("sqlite", func(t *testing.T) {
		killRounds(t, bin, "sqlite:"+filepath.Join(t.TempDir(), "cb.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		killRounds(t, bin, pgtest.Schema(t))
	})
}

func killRounds(t *testing.T, bin, dsn string) {
	args := []string{"--db", dsn, "--auto-register", "--accept-unknown-tags", "--log-level", "warn"}
	const chargers, rounds = 12, 3
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)

	var all []*acked
	for round := range rounds {
		p := cbtest.StartServe(t, bin, fmt.Sprintf("run-%d", round+1), "", args...)
		p.WaitReady(t)
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			total atomic.Int64
		)
		for c := range chargers {
			id := fmt.Sprintf("KILL-%02d", c+1)
			wg.Go(func() {
				a := load(t, p, id, round, t0, &total)
				if a != nil {
					mu.Lock()
					all = append(all, a)
					mu.Unlock()
				}
			})
		}
		// Let the load run, then kill the process in the middle of it.
		deadline := time.Now().Add(10 * time.Second)
		for total.Load() < 1000 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		p.Kill(t)
		wg.Wait()
		if total.Load() == 0 {
			t.Fatalf("round %d: nothing was acknowledged before the kill:\n%s", round+1, p.Out)
		}
		t.Logf("round %d: %d MeterValues acknowledged before kill -9", round+1, total.Load())
	}

	p := cbtest.StartServe(t, bin, "after", "", args...)
	p.WaitReady(t)
	byTx := map[string]string{} // charger/transaction → session
	for _, s := range p.Sessions(t) {
		byTx[s.ChargerID+"/"+s.TransactionID] = s.ID
	}
	samples := 0
	for _, a := range all {
		id, ok := byTx[a.charger+"/"+strconv.FormatInt(a.tx, 10)]
		if !ok {
			t.Errorf("%s: transaction %d was acknowledged but is not stored", a.charger, a.tx)
			continue
		}
		var s api.Session
		p.GetJSON(t, "/api/v1/sessions/"+id, &s)
		stored := map[time.Time]bool{}
		for _, smp := range s.Samples {
			stored[smp.Timestamp.UTC()] = true
		}
		for _, ts := range a.samples {
			if !stored[ts] {
				t.Errorf("%s: the MeterValues of %s in transaction %d was acknowledged but is not stored", a.charger, ts.Format(time.RFC3339), a.tx)
			}
		}
		samples += len(a.samples)
		if want := float64(a.highestWh-a.meterWh) / 1000; len(a.samples) > 0 && s.KWh < want-1e-9 {
			t.Errorf("%s: transaction %d has %v kWh; the acknowledged readings make at least %v", a.charger, a.tx, s.KWh, want)
		}
	}
	t.Logf("%d transactions and %d MeterValues acknowledged across %d kills, all stored", len(all), samples, rounds)
	p.Stop(t)
}

// load connects charger id to p, starts a transaction and sends MeterValues
// back to back until the connection fails; it returns what was
// acknowledged (nil when not even the start was).
func load(t *testing.T, p *cbtest.Process, id string, round int, t0 time.Time, total *atomic.Int64) *acked {
	c, err := cbtest.DialURL(t, p.WSURL()+"/"+id, "ocpp1.6")
	if err != nil {
		return nil
	}
	defer c.Close()
	ok := func(frame []byte, err error, v any) bool {
		var f []json.RawMessage
		if err != nil || json.Unmarshal(frame, &f) != nil || len(f) != 3 || string(f[0]) != "3" {
			return false
		}
		return v == nil || json.Unmarshal(f[2], v) == nil
	}
	frame, err := c.TryCall("BootNotification", map[string]any{"chargePointVendor": "Acme", "chargePointModel": "AC22"})
	if !ok(frame, err, nil) {
		return nil
	}
	base := t0.Add(time.Duration(round) * 24 * time.Hour)
	a := &acked{charger: id, meterWh: int64(round) * 1_000_000}
	var start struct {
		TransactionID int64 `json:"transactionId"`
	}
	frame, err = c.TryCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "T-" + id, "meterStart": a.meterWh,
		"timestamp": base.Format(time.RFC3339)})
	if !ok(frame, err, &start) || start.TransactionID <= 0 {
		return nil
	}
	a.tx = start.TransactionID
	for i := 1; ; i++ {
		ts := base.Add(time.Duration(i) * time.Second)
		wh := a.meterWh + int64(i)*10
		frame, err := c.TryCall("MeterValues", map[string]any{"connectorId": 1, "transactionId": a.tx, "meterValue": []any{
			map[string]any{"timestamp": ts.Format(time.RFC3339), "sampledValue": []any{
				map[string]any{"value": fmt.Sprint(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
				map[string]any{"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
				map[string]any{"value": "230", "measurand": "Voltage", "unit": "V"},
			}}}})
		if !ok(frame, err, nil) {
			return a
		}
		a.samples = append(a.samples, ts)
		a.highestWh = wh
		total.Add(1)
	}
}
