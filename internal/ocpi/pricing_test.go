package ocpi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// TestCatalogIsPublished: the operator's tariffs, assignments and sites
// (the pricing catalog) reach eMSPs as Tariffs and Locations, and CDRs are
// priced with the assigned tariff.
func TestCatalogIsPublished(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	e.register(s)
	ctx := context.Background()
	chargeOnce(t, s, "CP-PRICE") // registers the charger and its connector
	waitFor(t, "the unpriced CDR", func() bool { return len(pushesTo(e, http.MethodPost, "/cdrs")) == 1 })

	// The spec's tariff PUT example, published as it is (our party).
	b, err := os.ReadFile(filepath.Join("testdata", "spec", "tariff_put_example.json"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tariff.ParseTariff(b)
	if err != nil {
		t.Fatal(err)
	}
	putTariff(t, s, *tr)
	if _, err := s.Catalog().Assign(ctx, pricing.Assignment{Default: true, TariffID: tr.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Catalog().SetLocation(ctx, pricing.Location{ChargerID: "CP-PRICE", TimeZone: "Europe/Amsterdam", Name: "Station",
		Address: "Stationsplein 1", City: "Utrecht", PostalCode: "3511 ED", Country: "NLD",
		Coordinates: &pricing.Coordinates{Latitude: "52.089444", Longitude: "5.110278"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.OCPI().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Sync only queues the pushes; the outbox delivers them. The tariff's
	// push is the tariff pusher's (an event), not Sync's.
	waitFor(t, "the tariff's PUT", func() bool { return len(pushesTo(e, http.MethodPut, "/tariffs/NL/CBR/"+tr.ID)) > 0 })
	waitDrained(t, s)

	puts := pushesTo(e, http.MethodPut, "/tariffs/NL/CBR/"+tr.ID)
	if len(puts) != 1 {
		t.Fatalf("%d tariff PUTs; want 1", len(puts))
	}
	checkAgainstExample(t, "pushed Tariff", puts[0].Body, "tariff_put_example.json", []string{"last_updated"}, []string{"country_code", "party_id", "id", "currency", "elements", "last_updated"})
	pulled := pullAll(t, e, s.URL()+"/ocpi/2.2.1/tariffs")
	if len(pulled) != 1 || string(pulled[0]) != string(puts[0].Body) {
		t.Fatalf("pulled tariffs %s; want the one pushed", pulled)
	}

	locs := pushesTo(e, http.MethodPut, "/locations/NL/CBR/CP-PRICE")
	var loc struct {
		Address     string `json:"address"`
		TimeZone    string `json:"time_zone"`
		Coordinates struct {
			Latitude string `json:"latitude"`
		} `json:"coordinates"`
		EVSEs []struct {
			Connectors []struct {
				TariffIDs []string `json:"tariff_ids"`
			} `json:"connectors"`
		} `json:"evses"`
	}
	_ = json.Unmarshal(locs[len(locs)-1].Body, &loc)
	if loc.Address != "Stationsplein 1" || loc.TimeZone != "Europe/Amsterdam" || loc.Coordinates.Latitude != "52.089444" ||
		len(loc.EVSEs) != 1 || len(loc.EVSEs[0].Connectors[0].TariffIDs) != 1 || loc.EVSEs[0].Connectors[0].TariffIDs[0] != tr.ID {
		t.Fatalf("Location after the site and tariff changed: %s", locs[len(locs)-1].Body)
	}
	// Nothing changed: a second sync pushes nothing.
	n := len(e.pushes())
	if err := s.OCPI().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, s)
	if len(e.pushes()) != n {
		t.Fatalf("a sync without changes pushed %d times", len(e.pushes())-n)
	}

	chargeOnce(t, s, "CP-PRICE")
	waitFor(t, "the priced CDR", func() bool { return len(pushesTo(e, http.MethodPost, "/cdrs")) == 2 })
	var cdr struct {
		TotalCost struct {
			ExclVAT float64 `json:"excl_vat"`
		} `json:"total_cost"`
		Tariffs         []json.RawMessage `json:"tariffs"`
		ChargingPeriods []struct {
			TariffID string `json:"tariff_id"`
		} `json:"charging_periods"`
		CdrLocation struct {
			Address string `json:"address"`
		} `json:"cdr_location"`
	}
	body := pushesTo(e, http.MethodPost, "/cdrs")[1].Body
	_ = json.Unmarshal(body, &cdr)
	if cdr.TotalCost.ExclVAT <= 0 || len(cdr.Tariffs) != 1 || len(cdr.ChargingPeriods) == 0 || cdr.ChargingPeriods[0].TariffID != tr.ID || cdr.CdrLocation.Address != "Stationsplein 1" {
		t.Fatalf("priced CDR %s", body)
	}
	checkAgainstExample(t, "priced CDR", body, "cdr_example.json",
		[]string{"session_id", "charging_periods[].dimensions", "authorization_reference", "meter_id", "total_parking_time", "total_energy_cost",
			"total_fixed_cost", "total_parking_cost", "tariffs[].type", "tariffs[].tariff_alt_text", "tariffs[].elements[].price_components[].vat", "tariffs[].elements[].restrictions"},
		nil)
}

// TestCDREmbedsTheTariffThatPricedIt: a CDR embeds the tariff as it priced
// the session, not the copy last published to eMSPs (#12: the operator
// changed the tariff and the CDR showed the old one until the next sync).
func TestCDREmbedsTheTariffThatPricedIt(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	e.register(s)
	ctx := context.Background()
	putTariff(t, s, flatTariff(t, "EMB", "1"))
	if _, err := s.Catalog().Assign(ctx, pricing.Assignment{Default: true, TariffID: "EMB"}); err != nil {
		t.Fatal(err)
	}
	// The operator raises the price.
	changed := flatTariff(t, "EMB", "2")
	changed.LastUpdated = tariff.DateTime{}
	if _, err := s.Catalog().PutTariff(ctx, &changed); err != nil {
		t.Fatal(err)
	}
	chargeOnce(t, s, "CP-EMB")
	waitFor(t, "the CDR", func() bool { return len(pushesTo(e, http.MethodPost, "/cdrs")) == 1 })
	var cdr struct {
		TotalCost struct {
			ExclVAT float64 `json:"excl_vat"`
		} `json:"total_cost"`
		TotalEnergy float64 `json:"total_energy"`
		Tariffs     []struct {
			CountryCode string `json:"country_code"`
			PartyID     string `json:"party_id"`
			Elements    []struct {
				PriceComponents []struct {
					Price float64 `json:"price"`
				} `json:"price_components"`
			} `json:"elements"`
		} `json:"tariffs"`
	}
	body := pushesTo(e, http.MethodPost, "/cdrs")[0].Body
	if err := json.Unmarshal(body, &cdr); err != nil {
		t.Fatal(err)
	}
	if len(cdr.Tariffs) != 1 || cdr.Tariffs[0].Elements[0].PriceComponents[0].Price != 2 ||
		cdr.Tariffs[0].CountryCode != "NL" || cdr.Tariffs[0].PartyID != "CBR" {
		t.Fatalf("CDR embeds %s; want the tariff at 2 EUR/kWh that priced it, under our party", body)
	}
	if want := 2 * cdr.TotalEnergy; cdr.TotalCost.ExclVAT != want {
		t.Errorf("total %v for %v kWh; want %v at the embedded price", cdr.TotalCost.ExclVAT, cdr.TotalEnergy, want)
	}
}

// waitDrained waits until the outbox has delivered everything queued
// (Sync only queues: reading the eMSP's pushes right after it races
// the delivery).
func waitDrained(t testing.TB, s *cbtest.Server) {
	t.Helper()
	waitFor(t, "the outbox to drain", func() bool {
		n, err := s.OCPI().Pending(context.Background(), "")
		return err == nil && n == 0
	})
}
