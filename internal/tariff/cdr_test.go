package tariff

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got %s; want %s (golden %s)", got, want, path)
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPriceCDRSpecExample prices cdr_example.json with its own tariff.
//
// The example is consistent where pricing is concerned: TIME 1.973 h is
// 7102.8 s, which step_size 300 bills as 24 steps = 2 h, at € 2.00/h that
// is € 4.00, € 4.40 with 10% VAT, as its total_cost and total_time_cost
// say. Its oddities do not touch the price: its periods carry no ENERGY
// dimension although total_energy is 15.342 (so we keep the CDR's figure),
// end_date_time − start_date_time is 1.97306 h against TIME 1.973,
// last_updated (22:01:13) is before end_date_time (23:37:32), and
// latitude/longitude are swapped.
func TestPriceCDRSpecExample(t *testing.T) {
	cdrJSON := readFile(t, "cdr_example.json")
	var doc struct {
		Tariffs []json.RawMessage `json:"tariffs"`
	}
	if err := json.Unmarshal(cdrJSON, &doc); err != nil || len(doc.Tariffs) != 1 {
		t.Fatalf("embedded tariffs: %v, %d", err, len(doc.Tariffs))
	}
	loc, err := CDRLocation(cdrJSON)
	if err != nil || loc != time.UTC {
		t.Fatalf("CDRLocation: got %v, %v; want UTC, nil", loc, err)
	}
	// Its embedded tariff, and the spec's PUT example, which is the same
	// tariff without last_updated.
	for name, tariffJSON := range map[string][]byte{
		"embedded-tariff":    doc.Tariffs[0],
		"tariff-put-example": readFile(t, "tariff_put_example.json"),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := PriceCDR(tariffJSON, cdrJSON, loc)
			if err != nil {
				t.Fatalf("got error %v; want none", err)
			}
			want := Totals{
				TotalCost:        price("4", "4.4"),
				TotalEnergy:      N("15.342"),
				TotalTime:        N("1.973"),
				TotalTimeCost:    ptr(price("4", "4.4")),
				TotalParkingTime: N("0"),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("totals (-want +got):\n%s", diff)
			}
			// Every total the CDR states, we reproduce.
			var cdrFields, ours map[string]any
			_ = json.Unmarshal(cdrJSON, &cdrFields)
			enc, _ := json.Marshal(got)
			_ = json.Unmarshal(enc, &ours)
			for k, v := range cdrFields {
				if strings.HasPrefix(k, "total_") && !cmp.Equal(v, ours[k]) {
					t.Errorf("%s: got %v; want %v", k, ours[k], v)
				}
			}
			golden(t, "cdr_example_totals.json", enc)
		})
	}
	// With a per-minute step (tariff_1) the same periods cost 1.98333 h × 2.
	got, err := PriceCDR(readFile(t, "tariff_1_simple_2hour.json"), cdrJSON, loc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(price("3.9667", "4.3633"), got.TotalCost); diff != "" {
		t.Errorf("step 60: total_cost (-want +got):\n%s", diff)
	}
}

// cdrJSON builds a minimal CDR: periods are "start|TYPE=vol,TYPE=vol".
func cdrJSON(t *testing.T, start, end string, periods ...string) []byte {
	t.Helper()
	type dim struct {
		Type   string          `json:"type"`
		Volume json.RawMessage `json:"volume"`
	}
	type period struct {
		Start string `json:"start_date_time"`
		Dims  []dim  `json:"dimensions"`
	}
	var ps []period
	for _, p := range periods {
		st, dims, _ := strings.Cut(p, "|")
		pp := period{Start: st}
		for _, d := range strings.Split(dims, ",") {
			k, v, _ := strings.Cut(d, "=")
			pp.Dims = append(pp.Dims, dim{k, json.RawMessage(v)})
		}
		ps = append(ps, pp)
	}
	b, err := json.Marshal(map[string]any{
		"start_date_time": start, "end_date_time": end, "currency": "EUR", "charging_periods": ps,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPriceCDR(t *testing.T) {
	ams := amsterdam(t)
	tests := []struct {
		name   string
		tariff string
		loc    *time.Location
		cdr    []byte
		want   Totals
	}{
		{
			name: "complex-monday", tariff: "tariff_4_complex.json", loc: ams,
			cdr: cdrJSON(t, "2025-06-02T07:30:00Z", "2025-06-02T10:57:00Z",
				"2025-06-02T07:30:00Z|ENERGY=30,TIME=2.75,MAX_CURRENT=16",
				"2025-06-02T10:15:00Z|PARKING_TIME=0.7"),
			want: Totals{
				TotalCost: price("9", "10.3"), TotalFixedCost: ptr(price("2.5", "2.875")),
				TotalEnergy: N("30"), TotalTime: N("3.45"), TotalTimeCost: ptr(price("2.75", "3.3")),
				TotalParkingTime: N("0.7"), TotalParkingCost: ptr(price("3.75", "4.125")),
			},
		},
		{
			// Restrictions are evaluated at each period's start in loc: the
			// step_size example's periods in Amsterdam cost € 0.55 ...
			name: "step-size-example-in-amsterdam", tariff: "tariff_14_step_size.json", loc: ams,
			cdr: cdrJSON(t, "2025-06-02T14:55:00Z", "2025-06-02T15:07:00Z",
				"2025-06-02T14:55:00Z|TIME=0.083333", "2025-06-02T15:00:00Z|TIME=0.083333",
				"2025-06-02T15:05:00Z|PARKING_TIME=0.033333"),
			want: Totals{
				TotalCost: price("0.55", "0.55"), TotalEnergy: N("0"), TotalTime: N("0.2"),
				TotalTimeCost: ptr(price("0.3", "0.3")), TotalParkingTime: N("0.0333"),
				TotalParkingCost: ptr(price("0.25", "0.25")),
			},
		},
		{
			// ... and in UTC all of it is before 17:00: 10 min at 1.20, and
			// parking still rounded to 15 min.
			name: "step-size-example-in-utc", tariff: "tariff_14_step_size.json", loc: time.UTC,
			cdr: cdrJSON(t, "2025-06-02T14:55:00Z", "2025-06-02T15:07:00Z",
				"2025-06-02T14:55:00Z|TIME=0.083333", "2025-06-02T15:00:00Z|TIME=0.083333",
				"2025-06-02T15:05:00Z|PARKING_TIME=0.033333"),
			want: Totals{
				TotalCost: price("0.45", "0.45"), TotalEnergy: N("0"), TotalTime: N("0.2"),
				TotalTimeCost: ptr(price("0.2", "0.2")), TotalParkingTime: N("0.0333"),
				TotalParkingCost: ptr(price("0.25", "0.25")),
			},
		},
		{
			name: "max-power-periods", tariff: "tariffrestriction_example_max_power.json", loc: time.UTC,
			cdr: cdrJSON(t, "2025-06-02T10:00:00Z", "2025-06-02T11:07:30Z",
				"2025-06-02T10:00:00Z|ENERGY=1,MAX_POWER=6",
				"2025-06-02T10:10:00Z|ENERGY=40,MAX_POWER=48",
				"2025-06-02T11:00:00Z|ENERGY=0.5,MAX_POWER=4"),
			want: Totals{
				TotalCost: price("20.3", "24.36"), TotalEnergy: N("41.5"), TotalEnergyCost: ptr(price("20.3", "24.36")),
				TotalTime: N("1.125"), TotalParkingTime: N("0"),
			},
		},
		{
			name: "reservation-then-session", tariff: "tariff_16_reservation_2_euro_fee_5_euro_per_hour.json", loc: time.UTC,
			cdr: cdrJSON(t, "2019-03-04T09:00:00Z", "2019-03-04T10:13:00Z",
				"2019-03-04T09:00:00Z|RESERVATION_TIME=0.2167",
				"2019-03-04T09:13:00Z|ENERGY=20,TIME=1"),
			want: Totals{
				TotalCost: price("8.75", "10"), TotalFixedCost: ptr(price("0.5", "0.6")),
				TotalEnergy: N("20"), TotalEnergyCost: ptr(price("5", "5.5")), TotalTime: N("1"),
				TotalParkingTime: N("0"), TotalReservationCost: ptr(price("3.25", "3.9")),
			},
		},
		{
			name: "expired-reservation", tariff: "tariff_17_reservation_with_expire_fee.json", loc: time.UTC,
			cdr: cdrJSON(t, "2019-03-04T09:00:00Z", "2019-03-04T10:00:00Z",
				"2019-03-04T09:00:00Z|RESERVATION_TIME=1"),
			want: Totals{
				TotalCost: price("6", "7.2"), TotalEnergy: N("0"), TotalTime: N("0"),
				TotalParkingTime: N("0"), TotalReservationCost: ptr(price("6", "7.2")),
			},
		},
		{
			// A period without a time dimension counts as charging for its
			// whole length.
			name: "energy-only-periods", tariff: "tariff_1_simple_2hour.json", loc: time.UTC,
			cdr: cdrJSON(t, "2025-06-02T10:00:00Z", "2025-06-02T12:30:00Z",
				"2025-06-02T10:00:00Z|ENERGY=20"),
			want: Totals{
				TotalCost: price("5", "5.5"), TotalEnergy: N("20"), TotalTime: N("2.5"),
				TotalTimeCost: ptr(price("5", "5.5")), TotalParkingTime: N("0"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PriceCDR(readFile(t, tt.tariff), tt.cdr, tt.loc)
			if err != nil {
				t.Fatalf("got error %v; want none", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("totals (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPriceCDRErrors(t *testing.T) {
	tariff := readFile(t, "tariff_1_simple_2hour.json") // id 12, EUR
	ok := `"start_date_time":"2025-06-02T10:00:00Z","end_date_time":"2025-06-02T11:00:00Z"`
	period := `{"start_date_time":"2025-06-02T10:00:00Z","dimensions":[{"type":"TIME","volume":1}]}`
	tests := []struct {
		name, tariff, cdr string
		want              error
		msg               string
	}{
		{"not-json", string(tariff), `{`, ErrInvalidCDR, ""},
		{"no-periods", string(tariff), `{` + ok + `,"charging_periods":[]}`, ErrInvalidCDR, "no charging_periods"},
		{"currency-mismatch", string(tariff), `{` + ok + `,"currency":"SEK","charging_periods":[` + period + `]}`, ErrInvalidCDR, "currency SEK differs"},
		{"other-tariff", string(tariff), `{` + ok + `,"charging_periods":[{"start_date_time":"2025-06-02T10:00:00Z","dimensions":[{"type":"TIME","volume":1}],"tariff_id":"99"}]}`, ErrInvalidCDR, `for tariff "99"`},
		{"unknown-dimension", string(tariff), `{` + ok + `,"charging_periods":[{"start_date_time":"2025-06-02T10:00:00Z","dimensions":[{"type":"KWH","volume":1}]}]}`, ErrInvalidCDR, `unknown CdrDimensionType "KWH"`},
		{"periods-out-of-order", string(tariff), `{` + ok + `,"charging_periods":[` + period + `,{"start_date_time":"2025-06-02T09:00:00Z","dimensions":[{"type":"TIME","volume":1}]}]}`, ErrInvalidCDR, "starts before"},
		{"no-end", string(tariff), `{"start_date_time":"2025-06-02T10:00:00Z","charging_periods":[` + period + `]}`, ErrInvalidCDR, "no end_date_time"},
		{"invalid-tariff", `{"currency":"EUR","elements":[]}`, `{` + ok + `,"charging_periods":[` + period + `]}`, ErrInvalidTariff, "needs at least one element"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PriceCDR([]byte(tt.tariff), []byte(tt.cdr), time.UTC)
			if !errors.Is(err, tt.want) || !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Errorf("got %v; want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestCDRTimeZone(t *testing.T) {
	tests := []struct {
		name, cdr, wantTZ string
		wantErr           bool
	}{
		{"absent", `{"cdr_location":{"id":"LOC1"}}`, "UTC", false},
		{"present", `{"cdr_location":{"id":"LOC1","time_zone":"Europe/Amsterdam"}}`, "Europe/Amsterdam", false},
		{"unknown-zone", `{"cdr_location":{"time_zone":"Mars/Olympus"}}`, "", true},
		{"not-json", `[`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc, err := CDRLocation([]byte(tt.cdr))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %v; want an error", loc)
				}
				return
			}
			if err != nil || loc.String() != tt.wantTZ {
				t.Errorf("got %v, %v; want %s", loc, err, tt.wantTZ)
			}
		})
	}
}
