package beckn_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// TestSiteIsTheChargingStation: the catalog's charging station of the
// connectors of chargers in a site is the site (its id, its name in the
// description); a charger in no site stays its own station.
func TestSiteIsTheChargingStation(t *testing.T) {
	x := start(t)
	b := x.bap
	cp, err := sim.NewCharger(sim.Config{
		URL: "ws://" + x.s.Addr + "/ocpp", Protocol: "1.6", Connectors: 1, NoAutoStart: true, TimeScale: 60,
		MeterInterval: 100 * time.Millisecond, StepTime: time.Minute, RebootTime: 300 * time.Millisecond,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	}, "EVSE-2")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = cp.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "EVSE-2 to boot", func() bool {
		var c api.Charger
		return x.s.GetJSON("/api/v1/chargers/EVSE-2", &c) == http.StatusOK && c.Connected && len(c.Connectors) >= 2
	})

	// stations discovers every item and returns "item@station (shortDesc)".
	stations := func() []string {
		in := b.answer(b.send("discover", charging.NewID(), map[string]any{"text_search": "charging"}))
		items, _ := get(in.Msg, "catalogs", "0", "beckn:items").([]any)
		var out []string
		for _, it := range items {
			out = append(out, fmt.Sprintf("%v@%v (%v)", get(it, "beckn:id"), get(it, "beckn:itemAttributes", "chargingStation", "id"),
				get(it, "beckn:descriptor", "beckn:shortDesc")))
		}
		return out
	}
	if got, want := fmt.Sprint(stations()), "[EVSE-1-1@EVSE-1 (DC charging at EVSE-1) EVSE-1-2@EVSE-1 (DC charging at EVSE-1) EVSE-2-1@EVSE-2 (DC charging at EVSE-2)]"; got != want {
		t.Fatalf("without sites: %s; want %s", got, want)
	}

	site := map[string]any{"name": "Depot North", "max_power_kw": 44, "chargers": []string{"EVSE-1", "EVSE-2"}}
	if st := x.s.Do(http.MethodPut, "/api/v1/sites/DEPOT", site, nil); st != http.StatusOK {
		t.Fatalf("PUT site: HTTP %d", st)
	}
	if got, want := fmt.Sprint(stations()), "[EVSE-1-1@DEPOT (DC charging at Depot North) EVSE-1-2@DEPOT (DC charging at Depot North) EVSE-2-1@DEPOT (DC charging at Depot North)]"; got != want {
		t.Fatalf("with EVSE-1 and EVSE-2 in site DEPOT: %s; want %s", got, want)
	}
	in := b.answer(b.send("discover", charging.NewID(), map[string]any{"filters": map[string]any{"type": "jsonpath",
		"expression": "$[?(@.beckn:itemAttributes.chargingStation.id=='DEPOT')]"}}))
	if items, _ := get(in.Msg, "catalogs", "0", "beckn:items").([]any); len(items) != 3 {
		t.Fatalf("discover by station DEPOT: %d items; want 3", len(items))
	}

	site["chargers"] = []string{"EVSE-1"}
	if st := x.s.Do(http.MethodPut, "/api/v1/sites/DEPOT", site, nil); st != http.StatusOK {
		t.Fatalf("PUT site: HTTP %d", st)
	}
	if got, want := fmt.Sprint(stations()), "[EVSE-1-1@DEPOT (DC charging at Depot North) EVSE-1-2@DEPOT (DC charging at Depot North) EVSE-2-1@EVSE-2 (DC charging at EVSE-2)]"; got != want {
		t.Fatalf("with EVSE-2 out of the site: %s; want %s", got, want)
	}
}
