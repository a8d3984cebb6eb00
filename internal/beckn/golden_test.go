package beckn

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/chargebridge/chargebridge/internal/beckn/evsession"
	"github.com/chargebridge/chargebridge/internal/charging"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// TestGoldenPayloads pins what we write for a catalog item with its offer,
// and for a quote (on_select, on_init).
func TestGoldenPayloads(t *testing.T) {
	b, _ := testBPP(t)
	b.cfg.Catalog = CatalogConfig{ProviderID: "cpo.example", ProviderName: "Example CPO", ConnectorType: "CCS2", MaxPowerKW: 60,
		Location: &Point{Lat: 52.3702, Lon: 4.8952}}
	ch := charging.Charger{ID: "CP-1", Connectors: []charging.Connector{{ChargerID: "CP-1", ConnectorID: 1, Availability: charging.Operative, State: charging.StateAvailable, Status: charging.StatusAvailable}}}
	it := b.item(ch, ch.Connectors[0], nil)
	of, err := b.offer(context.Background(), it, "CP-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "catalog_item.json", map[string]any{"item": it, "offer": of})

	qty := decimal.RequireFromString("2.5")
	fee := evsession.BuyerFinderFee{FeeType: evsession.FeePercentage, FeeValue: evsession.NewAmount(decimal.RequireFromString("2.5"))}
	o := &Order{
		Buyer: json.RawMessage(`{"beckn:id":"user-7"}`),
		Items: []OrderItem{{OrderedItem: "CP-1-1", Quantity: &Quantity{UnitCode: "KWH", UnitQuantity: evsession.NewAmount(qty)}}},
		Attributes: &OrderAttributes{BuyerFinderFee: &fee, Preferences: &evsession.Preferences{
			StartTime: time.Date(2025, 12, 20, 10, 0, 0, 0, time.UTC), EndTime: time.Date(2025, 12, 20, 11, 30, 0, 0, time.UTC)}},
	}
	q := &quoted{chargerID: "CP-1", connectorID: 1, qty: &qty,
		rate: Rate{Currency: "EUR", PerKWh: decimal.RequireFromString("0.30"), VATPercent: decimal.RequireFromString("21")}}
	golden(t, "quote_order.json", b.quotedOrder(o, q, "order-1"))
}
