package beckn

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/chargebridge/chargebridge/internal/beckn/signing"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/sqlite"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// seeds are request messages of every action, written for these tests in
// the shape of the DEG v2 examples.
var seeds = []struct{ action, message string }{
	{"discover", `{"filters":{"type":"jsonpath","expression":"$[?(@.beckn:itemAttributes.connectorType == 'CCS2' && @.beckn:itemAttributes.maxPowerKW >= 50)]"},"spatial":[{"op":"s_dwithin","targets":"$['beckn:itemAttributes.chargingStation.serviceLocation.geo']","geometry":{"type":"Point","coordinates":[77.59,12.94]},"distanceMeters":10000}]}`},
	{"discover", `{"text_search":"fast charger"}`},
	{"select", `{"order":{"@type":"beckn:Order","beckn:orderStatus":"CREATED","beckn:buyer":{"beckn:id":"u"},"beckn:orderItems":[{"beckn:orderedItem":"CP-1-1","beckn:quantity":{"unitCode":"KWH","unitQuantity":2.5},"beckn:acceptedOffer":{"beckn:id":"o","beckn:price":{"currency":"INR","value":45.0}}}],"beckn:orderAttributes":{"@type":"ChargingSession","buyerFinderFee":{"feeType":"PERCENTAGE","feeValue":2.5},"preferences":{"startTime":"2025-12-20T10:00:00Z","endTime":"2025-12-20T11:30:00Z"}}}}`},
	{"init", `{"order":{"beckn:orderItems":[{"beckn:orderedItem":"CP-1-1"}],"beckn:payment":{"beckn:paymentStatus":"INITIATED","beckn:amount":{"currency":"INR","value":143.95}}}}`},
	{"confirm", `{"order":{"beckn:id":"order-1","beckn:orderItems":[{"beckn:orderedItem":"CP-1-2","beckn:quantity":{"unitQuantity":1}}],"beckn:payment":{"beckn:paymentStatus":"COMPLETED"}}}`},
	{"status", `{"order":{"beckn:id":"order-1"}}`},
	{"track", `{"order":{"beckn:id":"order-1"}}`},
	{"update", `{"order":{"beckn:id":"order-1","beckn:fulfillment":{"beckn:mode":"RESERVATION","beckn:deliveryAttributes":{"@type":"ChargingSession","sessionStatus":"STOP"}}}}`},
	{"cancel", `{"order":{"beckn:id":"order-1"}}`},
	{"rating", `{"ratings":[{"id":"f-1","ratingValue":4,"bestRating":5,"worstRating":1,"category":"FULFILLMENT","feedback":{"comments":"ok","tags":["fast"]}}]}`},
	{"support", `{"refId":"order-1","refType":"ORDER","support":{"name":"A","phone":"1","channels":["PHONE"]}}`},
}

func FuzzDecodeMessage(f *testing.F) {
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s.message))
	}
	f.Fuzz(func(t *testing.T, a uint8, msg []byte) {
		action := Actions[int(a)%len(Actions)]
		m, e := decodeMessage(action, msg)
		if e != nil {
			if e.Code == "" || e.Message == "" {
				t.Fatalf("error without code or message: %+v", e)
			}
			return
		}
		checkRoundTrip(t, action, m)
	})
}

func FuzzFilter(f *testing.F) {
	f.Add("$[?(@.beckn:id == 'CP-1-1')]")
	f.Add("$[?(@.a.b >= 5 && @['c.d'] != \"x\" || @.e)]")
	f.Add("$[?(@.beckn:availabilityWindow.schema:startTime <= '11:30:00')]")
	doc := map[string]any{"beckn:id": "CP-1-1", "a": map[string]any{"b": 7.0}, "c": map[string]any{"d": "y"}, "e": []any{map[string]any{"f": true}}}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := parseFilter(expr)
		if err != nil {
			return
		}
		flt.match(doc)
	})
}

// FuzzRequest posts signed bodies to a real BPP: whatever the body, the
// answer is an AckResponse, ACK only with 200, NACK with a coded error
// otherwise, and nothing panics.
func FuzzRequest(f *testing.F) {
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s.message), "PT30S")
	}
	f.Add(uint8(0), []byte(`null`), "")
	f.Add(uint8(3), []byte(`{"order":[]}`), "P1D")
	b, bap := testBPP(f)
	f.Fuzz(func(t *testing.T, a uint8, msg []byte, ttl string) {
		action := Actions[int(a)%len(Actions)]
		c := Context{Domain: "beckn.one:deg:ev-charging:*", Action: action, Version: "2.0.0", BapID: bap.ID.SubscriberID,
			BapURI: "http://127.0.0.1:1/bap", TransactionID: "t", MessageID: charging.NewID(),
			Timestamp: time.Now().UTC().Format(time.RFC3339), TTL: ttl}
		cj, _ := json.Marshal(c)
		body := []byte(`{"context":` + string(cj) + `,"message":` + string(msg) + `}`)
		for _, raw := range [][]byte{body, msg} {
			now := time.Now()
			auth, err := bap.Sign(raw, now, now.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodPost, "/beckn/"+action, bytes.NewReader(raw))
			req.SetPathValue("action", action)
			req.Header.Set("Authorization", auth)
			w := httptest.NewRecorder()
			b.ServeHTTP(w, req)
			var ack AckResponse
			data, _ := io.ReadAll(w.Body)
			if err := json.Unmarshal(data, &ack); err != nil {
				t.Fatalf("answer %q is not an AckResponse: %v", data, err)
			}
			switch {
			case w.Code == http.StatusOK && ack.AckStatus == ACK && ack.Error == nil:
			case w.Code != http.StatusOK && ack.AckStatus == NACK && ack.Error != nil && ack.Error.Code != "":
			default:
				t.Fatalf("HTTP %d with %s", w.Code, data)
			}
		}
	})
}

// testBPP runs a BPP on a SQLite store in the test's directory, with one
// known BAP whose key pair it returns.
func testBPP(tb testing.TB) (*BPP, *signing.KeyPair) {
	tb.Helper()
	b, bap := newTestBPP(tb)
	runBPP(tb, b)
	return b, bap
}

// runBPP runs b until the test ends or the returned stop is called (which
// waits for Run to return; calling it again does nothing).
func runBPP(tb testing.TB, b *BPP) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.Ready()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("beckn Run: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

// newTestBPP builds (and does not run) the BPP testBPP runs.
func newTestBPP(tb testing.TB) (*BPP, *signing.KeyPair) {
	tb.Helper()
	dir := tb.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "cb.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	svc := charging.NewService(st, charging.SystemClock{}, slog.New(slog.DiscardHandler), charging.Config{})
	keys, err := signing.GenerateKeyFile(filepath.Join(dir, "bpp.json"), "bpp.test", "k1")
	if err != nil {
		tb.Fatal(err)
	}
	bap, err := signing.GenerateKeyFile(filepath.Join(dir, "bap.json"), "bap.test", "k1")
	if err != nil {
		tb.Fatal(err)
	}
	res, err := signing.NewStaticResolver([]signing.Subscriber{{SubscriberID: "bap.test", UniqueKeyID: "k1", SigningPublicKey: bap.PublicKeyBase64()}})
	if err != nil {
		tb.Fatal(err)
	}
	pricer, err := NewFlatPricer("EUR", mustDecimal("0.30"), mustDecimal("21"))
	if err != nil {
		tb.Fatal(err)
	}
	b, err := New(Config{Keys: keys, URI: "http://127.0.0.1:1/beckn", Resolver: res, Pricer: pricer,
		HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}}, svc, charging.Offline{})
	if err != nil {
		tb.Fatal(err)
	}
	return b, bap
}

func mustDecimal(s string) decimal.Decimal { return decimal.RequireFromString(s) }
