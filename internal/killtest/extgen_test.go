package killtest

import (
	"context"
	"flag"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/bench/extgen"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

var (
	extChargers = flag.Int("killtest.chargers", 200, "chargers of TestKill9UnderIndependentSaturation (issue 16 measured it with 1000)")
	extAcked    = flag.Int64("killtest.acked", 20_000, "MeterValues acknowledged before TestKill9UnderIndependentSaturation kills the server")
)

// TestKill9UnderIndependentSaturation is issue 16's kill check with the
// independent load generator (internal/bench/extgen: gorilla/websocket, its
// own framing, no code shared with the server): a fleet sends MeterValues
// back to back, one call outstanding per charger, the server is killed with
// SIGKILL in the middle of it, and a fresh start must hold every
// StartTransaction and every MeterValues the generator saw answered with a
// CALLRESULT, with no error answer before the kill.
func TestKill9UnderIndependentSaturation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the chargebridge binary; skipped with -short")
	}
	bin := cbtest.BuildBinary(t)
	t.Run("sqlite", func(t *testing.T) {
		killUnderSaturation(t, bin, "sqlite:"+filepath.Join(t.TempDir(), "cb.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		killUnderSaturation(t, bin, pgtest.Schema(t))
	})
}

// ackedTx is what the generator saw acknowledged in one transaction.
type ackedTx struct {
	charger string
	tx      int64
	wh      []int64 // energy registers of the acknowledged MeterValues
}

func killUnderSaturation(t *testing.T, bin, dsn string) {
	args := []string{"--db", dsn, "--auto-register", "--accept-unknown-tags", "--log-level", "warn"}
	p := cbtest.StartServe(t, bin, "loaded", "", args...)
	p.WaitReady(t)

	var (
		mu    sync.Mutex
		txs   = map[string]*ackedTx{} // charger/tx → acknowledged
		total int64
	)
	gen, err := extgen.New(extgen.Config{
		URL: p.WSURL(), Chargers: *extChargers, IDPrefix: "XK-", Mode: extgen.Saturation,
		CallTimeout: 30 * time.Second,
		MeterValuesAcknowledged: func(charger string, tx, wh int64) {
			k := charger + "/" + strconv.FormatInt(tx, 10)
			mu.Lock()
			a := txs[k]
			if a == nil {
				a = &ackedTx{charger: charger, tx: tx}
				txs[k] = a
			}
			a.wh = append(a.wh, wh)
			total++
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- gen.Run(ctx) }()

	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := total
		mu.Unlock()
		if n >= *extAcked {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := gen.Stats()
	p.Kill(t)
	// The generator is stopped right after the kill: its chargers would
	// otherwise retry against a server that is gone.
	cancel()
	<-done
	if before.MeterValues == 0 {
		t.Fatalf("nothing was acknowledged before the kill (%+v):\n%s", before, p.Out)
	}
	if before.Failed() != 0 {
		t.Errorf("before the kill the generator counted %d failed calls (%+v)", before.Failed(), before)
	}
	t.Logf("%d chargers, %d MeterValues acknowledged in %d transactions before kill -9 (%+v)",
		*extChargers, total, len(txs), before)

	p = cbtest.StartServe(t, bin, "restarted", "", args...)
	p.WaitReady(t)
	byTx := map[string]string{}
	for _, s := range p.Sessions(t) {
		byTx[s.ChargerID+"/"+s.TransactionID] = s.ID
	}
	checked := 0
	for k, a := range txs {
		id, ok := byTx[k]
		if !ok {
			t.Errorf("%s: transaction %d had MeterValues acknowledged but is not stored", a.charger, a.tx)
			continue
		}
		var s api.Session
		p.GetJSON(t, "/api/v1/sessions/"+id, &s)
		stored := map[string]bool{}
		for _, smp := range s.Samples {
			for _, v := range smp.Values {
				if v.Measurand == charging.MeasurandEnergyImportRegister {
					stored[v.Raw] = true
				}
			}
		}
		highest := int64(0)
		for _, wh := range a.wh {
			if !stored[strconv.FormatInt(wh, 10)] {
				t.Errorf("%s: the MeterValues with register %d Wh in transaction %d was acknowledged but is not stored", a.charger, wh, a.tx)
			}
			highest = max(highest, wh)
			checked++
		}
		if want := float64(highest) / 1000; s.KWh < want-1e-9 {
			t.Errorf("%s: transaction %d has %v kWh; the acknowledged readings make at least %v", a.charger, a.tx, s.KWh, want)
		}
	}
	if checked == 0 {
		t.Fatal("no acknowledged MeterValues to check")
	}
	t.Logf("all %d acknowledged MeterValues stored after kill -9", checked)
	p.Stop(t)

}
