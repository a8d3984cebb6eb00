package ocpprpc

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/loadmgmt"
	"github.com/chargebridge/chargebridge/internal/server"
)

// TestOcppRpcSiteLoadManagement: three chargers built on the third-party
// OCPP client ocpp-rpc (strict mode), each obeying the charging profiles it
// gets, share a 22 kW site. Once their limits are in force the site's draw
// stays at or under 22 kW, the three draw about 7.3 kW each, and when one
// stops the other two go to 11 kW. One of them takes limits in A only.
func TestOcppRpcSiteLoadManagement(t *testing.T) {
	nodeModules(t)
	s := cbtest.Start(t, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }),
		func(st *cbtest.Setup) {
			st.Options.LoadMgmt = func(c *loadmgmt.Config) { c.RateInterval = 20 * time.Millisecond; c.Settle = time.Hour }
		})
	ids := []string{"RPC-S1", "RPC-S2", "RPC-S3"}
	for _, id := range ids {
		if _, err := s.Service().RegisterCharger(context.Background(), charging.Charger{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Load().PutSite(context.Background(), loadmgmt.Site{ID: "RPC-SITE", MaxPowerKW: 22, Chargers: ids,
		ChargerMaxKW: map[string]float64{"RPC-S1": 11, "RPC-S2": 11, "RPC-S3": 11}}); err != nil {
		t.Fatal(err)
	}
	line := runNode(t, 90*time.Second, "loadsite.js", append([]string{"ws://" + s.Addr + "/ocpp"}, ids...)...)
	var got struct {
		Samples []struct {
			T     float64
			Phase string
			Limit []*float64
			Draw  []float64
		}
		Rejected int
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("loadsite.js printed %q: %v", line, err)
	}
	if got.Rejected != 0 {
		t.Errorf("the chargers rejected %d profiles; want none (each got its unit and its transaction)", got.Rejected)
	}
	// Chargers start drawing before any central system can react; from the
	// first instant the site is within its limit, it must stay there.
	within, transient := false, 0
	last := map[string][]float64{}
	for _, sm := range got.Samples {
		sum := 0.0
		for _, w := range sm.Draw {
			sum += w
		}
		switch {
		case sum <= 22000+1e-6:
			within = true
		case !within:
			transient++
		default:
			t.Errorf("at %.1fs (%s) the site draws %.0f W > 22000 W: %v", sm.T, sm.Phase, sum, sm.Draw)
		}
		last[sm.Phase] = sm.Draw
	}
	t.Logf("%d samples; %d at the start before the limits took effect (%.1f s)", len(got.Samples), transient, float64(transient)*0.2)
	if !within {
		t.Fatal("the site never came within its limit")
	}
	shared, two := last["shared"], last["two"]
	if len(shared) != 3 || len(two) != 3 {
		t.Fatalf("the scenario did not reach both phases: %+v", last)
	}
	for i, w := range shared {
		// 10.6 A × 230 V × 3 = 7314 W for the charger that takes A.
		if math.Abs(w-22000.0/3) > 70 {
			t.Errorf("charger %d drew %.0f W with three sharing; want about 7333", i+1, w)
		}
	}
	for i, want := range []float64{11000, 0, 11000} {
		if math.Abs(two[i]-want) > 70 {
			t.Errorf("charger %d drew %.0f W after charger 2 stopped; want %.0f", i+1, two[i], want)
		}
	}
	var st loadmgmt.SiteStatus
	if code := s.GetJSON("/api/v1/sites/RPC-SITE", &st); code != http.StatusOK || st.LimitKW != 22 {
		t.Errorf("GET site = %d %+v", code, st)
	}
}
