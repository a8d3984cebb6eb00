package tariff

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// exampleTariffs returns the spec's tariff examples in testdata by file name.
func exampleTariffs(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/tariff*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("glob testdata: %v, %d files", err, len(files))
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

func loadTariff(t testing.TB, name string) *Tariff {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	tf, err := ParseTariff(b)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return tf
}

func kebab(file string) string {
	return strings.ReplaceAll(strings.TrimSuffix(file, ".json"), "_", "-")
}

func TestExamplesRoundTrip(t *testing.T) {
	for file, raw := range exampleTariffs(t) {
		t.Run(kebab(file), func(t *testing.T) {
			first, err := ParseTariff(raw)
			if err != nil {
				t.Fatalf("got error %v; want none", err)
			}
			enc, err := json.Marshal(first)
			if err != nil {
				t.Fatal(err)
			}
			second, err := ParseTariff(enc)
			if err != nil {
				t.Fatalf("decode our encoding %s: %v", enc, err)
			}
			if diff := cmp.Diff(first, second, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decode → encode → decode changed the tariff (-first +second):\n%s", diff)
			}
			// Same JSON value as the spec's file, up to number spelling
			// (0.50 vs 0.5) and absent optional fields.
			var want, got any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(enc, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("encoding differs from the spec's JSON (-spec +ours):\n%s", diff)
			}
		})
	}
}

func TestExamplesValidate(t *testing.T) {
	for file, raw := range exampleTariffs(t) {
		t.Run(kebab(file), func(t *testing.T) {
			tf, err := ParseTariff(raw)
			if err != nil {
				t.Fatal(err)
			}
			err = tf.Validate()
			if file == "tariff_put_example.json" {
				// The spec's PUT example leaves out last_updated, which the
				// Tariff object requires.
				if err == nil || !strings.Contains(err.Error(), "last_updated: is required") {
					t.Errorf("got %v; want last_updated: is required", err)
				}
				return
			}
			if err != nil {
				t.Errorf("got %v; want nil", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	base := func() *Tariff {
		return &Tariff{
			CountryCode: "NL", PartyID: "CBR", ID: "T1", Currency: "EUR",
			LastUpdated: DateTime{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
			Elements: []TariffElement{{PriceComponents: []PriceComponent{
				{Type: DimEnergy, Price: N("0.25"), VAT: ptr(N("21")), StepSize: 1},
			}}},
		}
	}
	tests := []struct {
		name   string
		mutate func(*Tariff)
		want   string // substring of the error; "" for valid
	}{
		{"valid", func(*Tariff) {}, ""},
		{"unknown-dimension", func(t *Tariff) { t.Elements[0].PriceComponents[0].Type = "KWH" }, `elements[0].price_components[0].type: unknown TariffDimensionType "KWH"`},
		{"negative-price", func(t *Tariff) { t.Elements[0].PriceComponents[0].Price = N("-0.01") }, "elements[0].price_components[0].price: -0.01 is negative"},
		{"vat-over-100", func(t *Tariff) { t.Elements[0].PriceComponents[0].VAT = ptr(N("121")) }, "vat: 121 is outside 0…100"},
		{"negative-step", func(t *Tariff) { t.Elements[0].PriceComponents[0].StepSize = -1 }, "step_size: -1 is negative"},
		{"duplicate-dimension", func(t *Tariff) {
			t.Elements[0].PriceComponents = append(t.Elements[0].PriceComponents, PriceComponent{Type: DimEnergy, Price: N("1")})
		}, "second ENERGY component in the same element"},
		{"no-elements", func(t *Tariff) { t.Elements = nil }, "elements: needs at least one element"},
		{"no-components", func(t *Tariff) { t.Elements[0].PriceComponents = nil }, "needs at least one price component"},
		{"unknown-type", func(t *Tariff) { t.Type = "CHEAP" }, `type: unknown TariffType "CHEAP"`},
		{"bad-currency", func(t *Tariff) { t.Currency = "eur" }, "currency"},
		{"long-id", func(t *Tariff) { t.ID = strings.Repeat("x", 37) }, "id: is 37 characters, longer than 36"},
		{"bad-country", func(t *Tariff) { t.CountryCode = "NLD" }, `country_code: "NLD" must be 2 characters`},
		{"missing-last-updated", func(t *Tariff) { t.LastUpdated = DateTime{} }, "last_updated: is required"},
		{"bad-start-time", func(t *Tariff) { t.Elements[0].Restrictions = &TariffRestrictions{StartTime: "24:00"} }, `start_time: "24:00" is not a time of day`},
		{"bad-date", func(t *Tariff) { t.Elements[0].Restrictions = &TariffRestrictions{StartDate: "2025-02-30"} }, `start_date: "2025-02-30" is not a date`},
		{"end-date-before-start", func(t *Tariff) {
			t.Elements[0].Restrictions = &TariffRestrictions{StartDate: "2025-03-01", EndDate: "2025-03-01"}
		}, "end_date: is not after start_date"},
		{"unknown-day", func(t *Tariff) { t.Elements[0].Restrictions = &TariffRestrictions{DayOfWeek: []DayOfWeek{"MON"}} }, `day_of_week[0]: unknown DayOfWeek "MON"`},
		{"min-power-above-max", func(t *Tariff) {
			t.Elements[0].Restrictions = &TariffRestrictions{MinPower: ptr(N("22")), MaxPower: ptr(N("11"))}
		}, "max_power: is not greater than min_power"},
		{"negative-duration", func(t *Tariff) { t.Elements[0].Restrictions = &TariffRestrictions{MaxDuration: ptr(-5)} }, "max_duration: -5 is negative"},
		{"unknown-reservation", func(t *Tariff) { t.Elements[0].Restrictions = &TariffRestrictions{Reservation: "BOOKED"} }, `reservation: unknown ReservationRestrictionType "BOOKED"`},
		{"energy-in-reservation-element", func(t *Tariff) { t.Elements[0].Restrictions = &TariffRestrictions{Reservation: Reservation} }, "a reservation element can only have FLAT and TIME components, not ENERGY"},
		{"min-price-above-max-price", func(t *Tariff) {
			t.MinPrice, t.MaxPrice = &Price{ExclVAT: N("10")}, &Price{ExclVAT: N("5")}
		}, "min_price.excl_vat: is greater than max_price.excl_vat"},
		{"incl-below-excl", func(t *Tariff) { t.MinPrice = &Price{ExclVAT: N("1"), InclVAT: ptr(N("0.9"))} }, "min_price.incl_vat: is less than excl_vat"},
		{"end-before-start-date-time", func(t *Tariff) {
			t.StartDateTime = &DateTime{time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)}
			t.EndDateTime = &DateTime{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
		}, "end_date_time: is not after start_date_time"},
		{"relative-alt-url", func(t *Tariff) { t.TariffAltURL = "/tariffs/1" }, "tariff_alt_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := base()
			tt.mutate(tf)
			err := tf.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v; want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v; want an error containing %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidTariff) {
				t.Errorf("got errors.Is(err, ErrInvalidTariff) = false; want true")
			}
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	tf := &Tariff{Elements: []TariffElement{{PriceComponents: []PriceComponent{{Type: "X", Price: N("-1")}}}}}
	var ve *ValidationError
	if !errors.As(tf.Validate(), &ve) {
		t.Fatalf("got %v; want a *ValidationError", tf.Validate())
	}
	var fields []string
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	want := []string{"country_code", "party_id", "id", "last_updated", "currency",
		"elements[0].price_components[0].type", "elements[0].price_components[0].price"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestNumberJSON(t *testing.T) {
	tests := []struct {
		name, in, want, wantErr string
	}{
		{"plain", `0.25`, `0.25`, ""},
		{"trailing-zeros", `2.00`, `2`, ""},
		{"exponent", `1.5e2`, `150`, ""},
		{"negative", `-0.5`, `-0.5`, ""},
		{"quoted-tolerated", `"0.25"`, `0.25`, ""},
		{"quoted-garbage", `"abc"`, "", "not a number"},
		{"quoted-hex", `"0x10"`, "", "not a number"},
		{"too-large", `1e15`, "", "too large"},
		{"too-many-decimals", `1e-33`, "", "more than 32 decimals"},
		{"largest", `999999999999999.5`, `999999999999999.5`, ""},
		{"huge-exponent", `1e9999`, "", "too large"},
		{"tiny-exponent", `1e-9999`, "", "more than 32 decimals"},
		{"zero-with-exponent", `0e-9999`, `0`, ""},
		{"trailing-zeros-do-not-count", `0.5` + strings.Repeat("0", 100), `0.5`, ""},
		{"too-long", `0.` + strings.Repeat("0", 300), "", "longer than"},
		{"bool", `true`, "", "not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n Number
			err := json.Unmarshal([]byte(tt.in), &n)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v; want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v; want nil", err)
			}
			out, _ := json.Marshal(n)
			if string(out) != tt.want {
				t.Errorf("got %s; want %s", out, tt.want)
			}
		})
	}
}

func TestDateTimeJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"utc", `"2015-06-29T20:39:09Z"`, `"2015-06-29T20:39:09Z"`},
		{"no-zone-means-utc", `"2015-06-29T20:39:09"`, `"2015-06-29T20:39:09Z"`},
		{"fraction", `"2016-12-29T17:45:09.2Z"`, `"2016-12-29T17:45:09.2Z"`},
		{"fraction-no-zone", `"2016-12-29T17:45:09.2"`, `"2016-12-29T17:45:09.2Z"`},
		{"milliseconds", `"2018-01-01T01:08:01.123Z"`, `"2018-01-01T01:08:01.123Z"`},
		{"offset-tolerated", `"2018-01-01T02:08:01+01:00"`, `"2018-01-01T01:08:01Z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d DateTime
			if err := json.Unmarshal([]byte(tt.in), &d); err != nil {
				t.Fatalf("got %v; want nil", err)
			}
			out, _ := json.Marshal(d)
			if string(out) != tt.want {
				t.Errorf("got %s; want %s", out, tt.want)
			}
		})
	}
	var d DateTime
	if err := json.Unmarshal([]byte(`"0001-01-01T00:00:00+01:00"`), &d); err == nil {
		t.Errorf("got nil; want an error for a year before 0001 in UTC")
	}
}

func ptr[T any](v T) *T { return &v }
