package beckn

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/chargebridge/chargebridge/internal/beckn/signing"
)

func TestParseTTL(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"", DefaultTTL, false},
		{"PT30S", 30 * time.Second, false},
		{"PT1.5S", 1500 * time.Millisecond, false},
		{"PT10M", 10 * time.Minute, false},
		{"PT1H2M3S", time.Hour + 2*time.Minute + 3*time.Second, false},
		{"P1D", 24 * time.Hour, false},
		{"P1DT1H", 25 * time.Hour, false},
		{"P1W", 7 * 24 * time.Hour, false},
		{"P", 0, true},
		{"PT", 0, true},
		{"30S", 0, true},
		{"PT-5S", 0, true},
		{"PT30s", 0, true},
		{"P1Y", 0, true},
	}
	for _, tt := range tests {
		t.Run(strings.ToLower(tt.in+"-"), func(t *testing.T) {
			got, err := ParseTTL(tt.in)
			if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
				t.Fatalf("ParseTTL(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.bad)
			}
		})
	}
}

// TestEverySignatureErrorIsMapped holds the NACK table to the signing
// package: every exported verification error has its own Beckn code and a
// 401.
func TestEverySignatureErrorIsMapped(t *testing.T) {
	all := []error{signing.ErrMalformedHeader, signing.ErrUnsupportedAlgorithm, signing.ErrNotYetValid, signing.ErrExpired,
		signing.ErrDigestMismatch, signing.ErrBadSignature, signing.ErrUnknownKey, signing.ErrReplay}
	if len(all) != len(signatureErrors) {
		t.Fatalf("%d signing errors, %d mapped", len(all), len(signatureErrors))
	}
	for _, e := range all {
		code, status := signatureErrorCode(fmt.Errorf("wrapped: %w", e))
		if status != http.StatusUnauthorized || !strings.HasPrefix(code, "6") {
			t.Errorf("%v maps to %s, HTTP %d; want a 6xxxx code and 401", e, code, status)
		}
	}
	if _, status := signatureErrorCode(errors.New("registry unreachable")); status != http.StatusServiceUnavailable {
		t.Errorf("a failed key lookup answers HTTP %d; want 503 (retry later)", status)
	}
}

func TestItemID(t *testing.T) {
	for _, tt := range []struct {
		charger string
		conn    int
	}{{"CP-1", 1}, {"EVSE-1", 2}, {"A", 12}, {"x-y-z", 3}} {
		ch, n, err := ParseItemID(ItemID(tt.charger, tt.conn))
		if err != nil || ch != tt.charger || n != tt.conn {
			t.Errorf("ParseItemID(ItemID(%s, %d)) = %s, %d, %v", tt.charger, tt.conn, ch, n, err)
		}
	}
	for _, bad := range []string{"", "CP", "-1", "CP-0", "CP-x", "CP-99999"} {
		if _, _, err := ParseItemID(bad); err == nil {
			t.Errorf("ParseItemID(%q) accepted", bad)
		}
	}
}

func TestRateCost(t *testing.T) {
	r := Rate{Currency: "INR", PerKWh: decimal.RequireFromString("18"), VATPercent: decimal.RequireFromString("18")}
	if got := r.PerKWhInclVAT().String(); got != "21.24" {
		t.Errorf("per kWh incl. VAT = %s; want 21.24", got)
	}
	p := r.Cost(decimal.RequireFromString("2.5"))
	if p.ExclVAT.String() != "45" || p.InclVAT.String() != "53.1" {
		t.Errorf("2.5 kWh = %s excl, %s incl; want 45 and 53.1", p.ExclVAT.String(), p.InclVAT.String())
	}
	// Rounded once: 1.234 kWh at 0.333 = 0.410922 → 0.41; incl 21 % from
	// the exact amount, 0.49721562 → 0.50.
	r = Rate{Currency: "EUR", PerKWh: decimal.RequireFromString("0.333"), VATPercent: decimal.RequireFromString("21")}
	p = r.Cost(decimal.RequireFromString("1.234"))
	if p.ExclVAT.String() != "0.41" || p.InclVAT.String() != "0.5" {
		t.Errorf("cost = %s excl, %s incl; want 0.41 and 0.5", p.ExclVAT.String(), p.InclVAT.String())
	}
}

func TestFilter(t *testing.T) {
	item := map[string]any{
		"beckn:id":             "CP-1-1",
		"beckn:provider":       map[string]any{"beckn:id": "cpo"},
		"beckn:itemAttributes": map[string]any{"connectorType": "CCS2", "maxPowerKW": 60.0, "reservationSupported": true},
		"beckn:availabilityWindow": []any{
			map[string]any{"schema:startTime": "06:00:00", "schema:endTime": "22:00:00"},
		},
	}
	tests := []struct {
		expr  string
		match bool
	}{
		{"", true},
		{"$[?(@.beckn:id == 'CP-1-1')]", true},
		{"$[?(@.beckn:id=='CP-1-2')]", false},
		{`$[?(@.beckn:id != "CP-1-2")]`, true},
		{"$[?(@.beckn:provider.beckn:id == 'cpo')]", true},
		{"$[?(@.beckn:itemAttributes.connectorType == 'CCS2' && @.beckn:itemAttributes.maxPowerKW >= 50)]", true},
		{"$[?(@.beckn:itemAttributes.connectorType == 'CCS2' && @.beckn:itemAttributes.maxPowerKW > 60)]", false},
		{"$[?(@.beckn:itemAttributes.maxPowerKW < 10 || @.beckn:itemAttributes.connectorType == 'CCS2')]", true},
		{"$[?(@.beckn:availabilityWindow.schema:startTime <= '11:30:00' && @.beckn:availabilityWindow.schema:endTime >= '14:30:00')]", true},
		{"$[?(@.beckn:availabilityWindow.schema:endTime >= '23:00:00')]", false},
		{"$[?(@.beckn:itemAttributes.reservationSupported == true)]", true},
		{"$[?(@.beckn:itemAttributes.reservationSupported)]", true},
		{"$[?(@['beckn:itemAttributes'].connectorType == 'CCS2')]", true},
		// A path the catalog does not have does not apply.
		{"$[?(@.beckn:fulfillment.beckn:deliveryAttributes.vehicle.make == 'Tata')]", true},
		{"$[?(@.beckn:itemAttributes.connectorType == 12)]", false},
	}
	for _, tt := range tests {
		f, err := parseFilter(tt.expr)
		if err != nil {
			t.Errorf("parseFilter(%q): %v", tt.expr, err)
			continue
		}
		if got := f.match(item); got != tt.match {
			t.Errorf("%q matches %v; want %v", tt.expr, got, tt.match)
		}
	}
	for _, bad := range []string{"@.x == 1", "$[?(@.x == )]", "$[?(@.x == 'a)]", "$[?(x == 1)]", "$[?(@. == 1)]", "$[?(@.x == 1 &&)]", "$[?(@.x == 1 @.y)]", "$[?(@.x == nope)]"} {
		if _, err := parseFilter(bad); err == nil {
			t.Errorf("parseFilter(%q) accepted", bad)
		}
	}
}

func TestHaversine(t *testing.T) {
	// Bengaluru MG Road to Koramangala is about 4.6 km.
	d := haversine(12.9756, 77.6066, 12.9352, 77.6245)
	if d < 4500 || d > 5000 {
		t.Errorf("distance = %.0f m; want about 4.9 km", d)
	}
}

func TestDecodeMessageRoundTrip(t *testing.T) {
	raw := []byte(`{"order":{"beckn:id":"o-1","beckn:fulfillment":{"beckn:mode":"RESERVATION","beckn:deliveryAttributes":{"sessionStatus":"STOP","vehicle":{"make":"Tata","model":"Nexon-EV"}}}}}`)
	m, e := decodeMessage("update", raw)
	if e != nil {
		t.Fatal(e)
	}
	in := m.(*orderMessage).Order.Fulfillment.DeliveryAttributes.in
	if in.SessionStatus != "STOP" || in.Vehicle == nil || in.Vehicle.Make != "Tata" {
		t.Fatalf("decoded %+v", in)
	}
	checkRoundTrip(t, "update", m)
}

// checkRoundTrip requires decode → encode → decode to be stable.
func checkRoundTrip(t *testing.T, action string, m any) {
	t.Helper()
	enc, err := jsonMarshal(m)
	if err != nil {
		t.Fatalf("encode %T: %v", m, err)
	}
	m2, e := decodeMessage(action, enc)
	if e != nil {
		t.Fatalf("re-decode of %s: %v", enc, e)
	}
	enc2, err := jsonMarshal(m2)
	if err != nil {
		t.Fatal(err)
	}
	if string(enc) != string(enc2) {
		t.Fatalf("decode → encode → decode is not stable:\n%s\n%s", enc, enc2)
	}
	if reflect.TypeOf(m) != reflect.TypeOf(m2) {
		t.Fatalf("type %T became %T", m, m2)
	}
}

// TestStopEndsEveryGoroutine holds the BPP to its owner: once Run
// returns no worker, notifier or sender is left, even with a callback
// still retrying.
func TestStopEndsEveryGoroutine(t *testing.T) {
	b, _ := newTestBPP(t)
	stop := runBPP(t, b)
	// A callback to a closed port keeps a sender busy retrying.
	b.callback(Context{Action: "status", BapURI: "http://127.0.0.1:1/bap", TransactionID: "t", Version: "2.0.0"}, "on_status", "m",
		onRatingMessage{Received: true}, nil, time.Now().Add(time.Minute), slog.New(slog.DiscardHandler))
	if n := becknGoroutines(); n == 0 {
		t.Fatal("no BPP goroutines while running")
	}
	stop()
	// Run waited for its workers: nothing of the BPP may be left now.
	if n := becknGoroutines(); n > 0 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d BPP goroutines left after Run returned:\n%s", n, buf[:runtime.Stack(buf, true)])
	}
}

// becknGoroutines counts the goroutines running this package's code.
func becknGoroutines() int {
	buf := make([]byte, 1<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "internal/beckn.(*") && !strings.Contains(g, "TestStopEndsEveryGoroutine") {
			n++
		}
	}
	return n
}
