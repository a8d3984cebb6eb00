package beckn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/beckn"
	"github.com/chargebridge/chargebridge/internal/beckn/evsession"
	"github.com/chargebridge/chargebridge/internal/beckn/signing"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// The tests below run a BAP as a real HTTP server on 127.0.0.1 with its own
// key pair against a real chargebridge (cbtest.Start) whose charger is the
// simulator. The BAP verifies every callback's signature and checks each
// on_* message for the fields of the matching DEG v2 example.

const (
	bppID = "bpp.chargebridge.test"
	bapID = "bap.example.test"
)

// inbound is a callback the BAP received.
type inbound struct {
	Action string
	Ctx    beckn.Context
	Msg    map[string]any
	Err    map[string]any
	Raw    []byte
}

type testBAP struct {
	t         *testing.T
	id        string
	keys      *signing.KeyPair
	bppKeys   signing.KeyResolver
	srv       *httptest.Server
	validator *evsession.Validator
	bppURL    string
	// failNext makes the BAP answer 503 to that many callbacks first.
	failNext atomic.Int32

	mu   sync.Mutex
	got  []inbound
	seen chan struct{}
}

// setup starts chargebridge with the BPP on, a BAP, and a simulated
// charger EVSE-1 with two connectors.
type setup struct {
	s   *cbtest.Server
	bap *testBAP
	cp  *sim.Charger
}

func start(t *testing.T, opts ...func(*server.BecknConfig, *signing.KeyPair)) *setup {
	t.Helper()
	return startSpeaking(t, "1.6", opts...)
}

// startSpeaking is start with a charger of OCPP version protocol.
func startSpeaking(t *testing.T, protocol string, opts ...func(*server.BecknConfig, *signing.KeyPair)) *setup {
	t.Helper()
	return startCharger(t, func(c *sim.Config) { c.Protocol = protocol }, opts...)
}

// startCharger is start with the simulated charger's configuration
// changed by simOpt.
func startCharger(t *testing.T, simOpt func(*sim.Config), opts ...func(*server.BecknConfig, *signing.KeyPair)) *setup {
	t.Helper()
	dir := t.TempDir()
	bppKeys, err := signing.GenerateKeyFile(filepath.Join(dir, "bpp.json"), bppID, "bpp-key-1")
	if err != nil {
		t.Fatal(err)
	}
	bapKeys, err := signing.GenerateKeyFile(filepath.Join(dir, "bap.json"), bapID, "bap-key-1")
	if err != nil {
		t.Fatal(err)
	}
	subs := []signing.Subscriber{{SubscriberID: bapID, UniqueKeyID: "bap-key-1", SigningPublicKey: bapKeys.PublicKeyBase64()}}
	writeJSON(t, filepath.Join(dir, "subscribers.json"), subs)
	bc := server.BecknConfig{
		KeyFile: filepath.Join(dir, "bpp.json"), Subscribers: filepath.Join(dir, "subscribers.json"),
		Units: "physical", ConnectorType: "CCS2", MaxPowerKW: 50, Location: "12.9716,77.5946",
		Currency: "INR", PricePerKWh: "18", VATPercent: "18", GracePeriod: 10 * time.Minute,
		SupportEmail: "support@cpo.example", SupportPhone: "18001080",
	}
	for _, o := range opts {
		o(&bc, bapKeys)
	}
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.Beckn = bc }))

	bppRes, err := signing.NewStaticResolver([]signing.Subscriber{{SubscriberID: bppID, UniqueKeyID: "bpp-key-1", SigningPublicKey: bppKeys.PublicKeyBase64()}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := evsession.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	b := &testBAP{t: t, id: bapID, keys: bapKeys, bppKeys: bppRes, validator: v, bppURL: s.URL() + "/beckn", seen: make(chan struct{}, 1)}
	b.srv = httptest.NewServer(http.HandlerFunc(b.receive))
	t.Cleanup(b.srv.Close)

	simCfg := sim.Config{
		URL: "ws://" + s.Addr + "/ocpp", Protocol: "1.6", Connectors: 2, NoAutoStart: true, TimeScale: 60,
		MeterInterval: 100 * time.Millisecond, StepTime: time.Minute, RebootTime: 300 * time.Millisecond,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	}
	simOpt(&simCfg)
	cp, err := sim.NewCharger(simCfg, "EVSE-1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = cp.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "EVSE-1 to boot with its connectors available", func() bool {
		var c api.Charger
		if s.GetJSON("/api/v1/chargers/EVSE-1", &c) != http.StatusOK || !c.Connected {
			return false
		}
		n := 0
		for _, cn := range c.Connectors {
			if cn.ConnectorID > 0 && cn.Status == charging.StatusAvailable {
				n++
			}
		}
		return n == 2
	})
	return &setup{s: s, bap: b, cp: cp}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receive is the BAP's callback endpoint: it verifies the BPP's signature,
// that the key is the bpp_id's, and that every EvChargingSession validates.
func (b *testBAP) receive(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key, err := signing.Verify(r.Context(), b.bppKeys, r.Header.Get("Authorization"), body, time.Now(), signing.DefaultSkew)
	if err != nil {
		b.t.Errorf("callback %s: signature does not verify: %v", r.URL.Path, err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var cb struct {
		Context beckn.Context  `json:"context"`
		Message map[string]any `json:"message"`
		Error   map[string]any `json:"error"`
	}
	if err := json.Unmarshal(body, &cb); err != nil {
		b.t.Errorf("callback %s: %v", r.URL.Path, err)
		return
	}
	action := strings.TrimPrefix(r.URL.Path, "/bap/")
	if cb.Context.Action != action {
		b.t.Errorf("callback to %s has context.action %s", r.URL.Path, cb.Context.Action)
	}
	if key.SubscriberID != cb.Context.BppID || cb.Context.BppID != bppID || cb.Context.BppURI != b.bppURL {
		b.t.Errorf("callback %s: signed by %s, bpp_id %s, bpp_uri %s; want %s and %s", action, key.SubscriberID, cb.Context.BppID, cb.Context.BppURI, bppID, b.bppURL)
	}
	if da, ok := get(cb.Message, "order", "beckn:fulfillment", "beckn:deliveryAttributes").(map[string]any); ok {
		raw, _ := json.Marshal(da)
		if err := b.validator.Validate(raw); err != nil {
			b.t.Errorf("%s: EvChargingSession does not validate against our schema: %v\n%s", action, err, raw)
		}
	}
	if b.failNext.Load() > 0 {
		b.failNext.Add(-1)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	b.mu.Lock()
	b.got = append(b.got, inbound{Action: action, Ctx: cb.Context, Msg: cb.Message, Err: cb.Error, Raw: body})
	b.mu.Unlock()
	select {
	case b.seen <- struct{}{}:
	default:
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(beckn.AckResponse{TransactionID: cb.Context.TransactionID, Timestamp: time.Now().UTC().Format(time.RFC3339), AckStatus: "ACK"})
}

// ctx is a request context from this BAP.
func (b *testBAP) ctx(action, txID string) beckn.Context {
	return beckn.Context{
		Domain: "beckn.one:deg:ev-charging:*", Action: action, Version: "2.0.0",
		BapID: b.id, BapURI: b.srv.URL + "/bap", BppID: bppID, BppURI: b.bppURL,
		TransactionID: txID, MessageID: charging.NewID(), Timestamp: time.Now().UTC().Format(time.RFC3339), TTL: "PT30S",
	}
}

// post signs body as this BAP and posts it to /beckn/{action}.
func (b *testBAP) post(action string, body []byte, sign func([]byte) string) (int, beckn.AckResponse, http.Header) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.bppURL+"/"+action, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sign != nil {
		req.Header.Set("Authorization", sign(body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("POST %s: %v", action, err)
	}
	defer resp.Body.Close()
	var ack beckn.AckResponse
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &ack); err != nil {
		b.t.Fatalf("POST %s: answer %s is not an AckResponse: %v", action, data, err)
	}
	return resp.StatusCode, ack, resp.Header
}

func (b *testBAP) sign(body []byte) string {
	now := time.Now()
	h, err := b.keys.Sign(body, now, now.Add(30*time.Second))
	if err != nil {
		b.t.Fatal(err)
	}
	return h
}

// send posts a signed request and requires an ACK; it returns the context
// sent.
func (b *testBAP) send(action, txID string, message any) beckn.Context {
	b.t.Helper()
	c := b.ctx(action, txID)
	body, err := json.Marshal(map[string]any{"context": c, "message": message})
	if err != nil {
		b.t.Fatal(err)
	}
	st, ack, _ := b.post(action, body, b.sign)
	if st != http.StatusOK || ack.AckStatus != "ACK" || ack.TransactionID != txID {
		b.t.Fatalf("%s: HTTP %d %+v; want 200 ACK for transaction %s", action, st, ack, txID)
	}
	return c
}

// answer waits for the callback answering the request c.
func (b *testBAP) answer(c beckn.Context) inbound {
	b.t.Helper()
	return b.wait("on_"+c.Action+" to message "+c.MessageID, func(in inbound) bool {
		return in.Action == "on_"+c.Action && in.Ctx.MessageID == c.MessageID
	}, func(in inbound) {
		if in.Ctx.TransactionID != c.TransactionID || in.Ctx.BapID != c.BapID || in.Ctx.BapURI != c.BapURI {
			b.t.Errorf("on_%s context %+v does not answer %+v", c.Action, in.Ctx, c)
		}
	})
}

// wait returns the first callback that matches, then checks it.
func (b *testBAP) wait(what string, match func(inbound) bool, check ...func(inbound)) inbound {
	b.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		b.mu.Lock()
		for _, in := range b.got {
			if match(in) {
				b.mu.Unlock()
				for _, c := range check {
					c(in)
				}
				return in
			}
		}
		b.mu.Unlock()
		select {
		case <-b.seen:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			b.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (b *testBAP) count(match func(inbound) bool) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, in := range b.got {
		if match(in) {
			n++
		}
	}
	return n
}

// get walks a decoded JSON value by object keys and array indices.
func get(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// want checks that each path has the value (any non-nil value when want
// is nil).
func want(t *testing.T, what string, m map[string]any, fields map[string]any) {
	t.Helper()
	for path, w := range fields {
		got := get(m, strings.Split(path, "/")...)
		if w == nil {
			if got == nil {
				t.Errorf("%s: %s is missing", what, path)
			}
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s: %s = %v; want %v", what, path, got, w)
		}
	}
}

const session = "order/beckn:fulfillment/beckn:deliveryAttributes/"

// orderItems is the ordered item of the v2 select example, our way.
func orderItems(item string, kwh float64) []any {
	return []any{map[string]any{
		"beckn:orderedItem": item,
		"beckn:quantity":    map[string]any{"unitText": "Kilowatt Hour", "unitCode": "KWH", "unitQuantity": kwh},
		"beckn:acceptedOffer": map[string]any{"@type": "beckn:Offer", "beckn:id": "offer-" + item, "beckn:items": []string{item},
			"beckn:price": map[string]any{"currency": "INR", "value": 21.24, "applicableQuantity": map[string]any{"unitCode": "KWH", "unitQuantity": 1}}},
	}}
}

func buyer() map[string]any {
	return map[string]any{"@type": "beckn:Buyer", "beckn:id": "user-7", "beckn:role": "BUYER", "beckn:displayName": "Asha"}
}

func orderAttributes() map[string]any {
	return map[string]any{"@type": "ChargingSession", "buyerFinderFee": map[string]any{"feeType": "PERCENTAGE", "feeValue": 2.5},
		"preferences": map[string]any{"startTime": time.Now().UTC().Add(time.Minute).Format(time.RFC3339), "endTime": time.Now().UTC().Add(time.Hour).Format(time.RFC3339)}}
}

func payment(status string) map[string]any {
	return map[string]any{"@type": "beckn:Payment", "beckn:amount": map[string]any{"currency": "INR", "value": 53.1},
		"beckn:beneficiary": "BPP", "beckn:paymentStatus": status}
}

// confirmOrder runs init and confirm for an item and returns the order id
// and the transaction.
func confirmOrder(t *testing.T, b *testBAP, item string) (orderID, txID string, confirmed inbound) {
	t.Helper()
	txID = charging.NewID()
	c := b.send("init", txID, map[string]any{"order": map[string]any{"@type": "beckn:Order", "beckn:orderStatus": "CREATED",
		"beckn:buyer": buyer(), "beckn:orderItems": orderItems(item, 2.5), "beckn:payment": payment("INITIATED")}})
	in := b.answer(c)
	orderID, _ = get(in.Msg, "order", "beckn:id").(string)
	if orderID == "" {
		t.Fatalf("on_init has no order id: %s", in.Raw)
	}
	c = b.send("confirm", txID, map[string]any{"order": map[string]any{"@type": "beckn:Order", "beckn:id": orderID,
		"beckn:orderStatus": "PENDING", "beckn:buyer": buyer(), "beckn:orderItems": orderItems(item, 2.5),
		"beckn:payment": payment("COMPLETED"), "beckn:orderAttributes": orderAttributes()}})
	return orderID, txID, b.answer(c)
}

func updateMsg(orderID, status string) map[string]any {
	return map[string]any{"order": map[string]any{"@type": "beckn:Order", "beckn:id": orderID, "beckn:orderStatus": "CONFIRMED",
		"beckn:fulfillment": map[string]any{"@type": "beckn:Fulfillment", "beckn:id": "f", "beckn:mode": "RESERVATION",
			"beckn:deliveryAttributes": map[string]any{"@type": "ChargingSession", "sessionStatus": status}}}}
}

func orderRef(orderID string) map[string]any {
	return map[string]any{"order": map[string]any{"@type": "beckn:Order", "beckn:id": orderID}}
}

func TestFlowOfTheV2Examples(t *testing.T) {
	x := start(t)
	b := x.bap
	tx := charging.NewID()

	t.Run("discover", func(t *testing.T) {
		circle := []any{map[string]any{"op": "s_dwithin", "targets": "$['beckn:itemAttributes.chargingStation.serviceLocation.geo']",
			"geometry": map[string]any{"type": "Point", "coordinates": []float64{77.59, 12.94}}, "distanceMeters": 10000}}
		far := []any{map[string]any{"op": "s_dwithin", "geometry": map[string]any{"type": "Point", "coordinates": []float64{4.89, 52.37}}, "distanceMeters": 10000}}
		jp := func(expr string) map[string]any { return map[string]any{"type": "jsonpath", "expression": expr} }
		tests := []struct {
			name    string
			message map[string]any
			items   []string
		}{
			{"by-evse", map[string]any{"filters": jp("$[?(@.beckn:id == 'EVSE-1-2')]")}, []string{"EVSE-1-2"}},
			{"by-cpo", map[string]any{"filters": jp("$[?(@.beckn:provider.beckn:id == '" + bppID + "')]")}, []string{"EVSE-1-1", "EVSE-1-2"}},
			{"by-other-cpo", map[string]any{"filters": jp("$[?(@.beckn:provider.beckn:id == 'ecopower-charging')]")}, nil},
			{"by-station", map[string]any{"filters": jp("$[?(@.beckn:itemAttributes.chargingStation.id=='EVSE-1')]")}, []string{"EVSE-1-1", "EVSE-1-2"}},
			{"within-circle", map[string]any{"spatial": circle}, []string{"EVSE-1-1", "EVSE-1-2"}},
			{"outside-circle", map[string]any{"spatial": far}, nil},
			{"circle-and-connector-spec", map[string]any{"spatial": circle,
				"filters": jp("$[?(@.beckn:itemAttributes.connectorType == 'CCS2' && @.beckn:itemAttributes.maxPowerKW >= 50)]")}, []string{"EVSE-1-1", "EVSE-1-2"}},
			{"connector-spec-too-powerful", map[string]any{"filters": jp("$[?(@.beckn:itemAttributes.connectorType == 'CCS2' && @.beckn:itemAttributes.maxPowerKW >= 150)]")}, nil},
			{"time-range", map[string]any{"filters": jp("$[?(@.beckn:itemAttributes.connectorType == 'CCS2' && @.beckn:availabilityWindow.schema:startTime <= '11:30:00' && @.beckn:availabilityWindow.schema:endTime >= '14:30:00')]")}, []string{"EVSE-1-1", "EVSE-1-2"}},
			{"vehicle-spec", map[string]any{"spatial": circle,
				"filters": jp("$[?(@.beckn:fulfillment.beckn:deliveryAttributes.vehicle.make == 'Tata' && @.beckn:fulfillment.beckn:deliveryAttributes.vehicle.model == 'Nexon-EV' )]")}, []string{"EVSE-1-1", "EVSE-1-2"}},
			{"text", map[string]any{"text_search": "EV charger fast charging"}, []string{"EVSE-1-1", "EVSE-1-2"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				in := b.answer(b.send("discover", charging.NewID(), tt.message))
				want(t, "on_discover", in.Msg, map[string]any{
					"catalogs/0/@type": "beckn:Catalog", "catalogs/0/beckn:bppId": bppID, "catalogs/0/beckn:bppUri": b.bppURL,
				})
				items, _ := get(in.Msg, "catalogs", "0", "beckn:items").([]any)
				var ids []string
				for i, it := range items {
					ids = append(ids, fmt.Sprint(get(it, "beckn:id")))
					want(t, "on_discover item", it.(map[string]any), map[string]any{
						"@type": "beckn:Item", "beckn:itemAttributes/@type": "ChargingService", "beckn:itemAttributes/connectorType": "CCS2",
						"beckn:itemAttributes/maxPowerKW": 50, "beckn:isActive": true, "beckn:provider/beckn:id": bppID,
						"beckn:itemAttributes/chargingStation/serviceLocation/geo/coordinates/0": 77.5946,
					})
					want(t, "on_discover offer", in.Msg, map[string]any{
						"catalogs/0/beckn:offers/" + strconv.Itoa(i) + "/beckn:items/0":                           ids[i],
						"catalogs/0/beckn:offers/" + strconv.Itoa(i) + "/beckn:price/currency":                    "INR",
						"catalogs/0/beckn:offers/" + strconv.Itoa(i) + "/beckn:price/value":                       21.24,
						"catalogs/0/beckn:offers/" + strconv.Itoa(i) + "/beckn:price/applicableQuantity/unitCode": "KWH",
						"catalogs/0/beckn:offers/" + strconv.Itoa(i) + "/beckn:offerAttributes/tariffModel":       "PER_KWH",
					})
				}
				if fmt.Sprint(ids) != fmt.Sprint(tt.items) {
					t.Errorf("items = %v; want %v", ids, tt.items)
				}
			})
		}
	})

	t.Run("select", func(t *testing.T) {
		in := b.answer(b.send("select", tx, map[string]any{"order": map[string]any{"@type": "beckn:Order", "beckn:orderStatus": "CREATED",
			"beckn:seller": bppID, "beckn:buyer": buyer(), "beckn:orderItems": orderItems("EVSE-1-1", 2.5), "beckn:orderAttributes": orderAttributes()}}))
		// 2.5 kWh at 18 INR excl. 18 % VAT: 45.00 + 8.10 = 53.10.
		want(t, "on_select", in.Msg, map[string]any{
			"order/@type": "beckn:Order", "order/beckn:orderStatus": "CREATED", "order/beckn:seller": bppID,
			"order/beckn:buyer/beckn:id": "user-7", "order/beckn:orderItems/0/beckn:orderedItem": "EVSE-1-1",
			"order/beckn:orderItems/0/beckn:quantity/unitQuantity": 2.5, "order/beckn:orderItems/0/beckn:price/value": 21.24,
			"order/beckn:orderItems/0/beckn:acceptedOffer/beckn:id": "offer-EVSE-1-1",
			"order/beckn:orderValue/currency":                       "INR", "order/beckn:orderValue/value": 53.1,
			"order/beckn:orderValue/components/0/type": "UNIT", "order/beckn:orderValue/components/0/value": 45,
			"order/beckn:orderValue/components/1/type": "TAX", "order/beckn:orderValue/components/1/value": 8.1,
			"order/beckn:orderAttributes/buyerFinderFee/feeValue": 2.5, "order/beckn:orderAttributes/preferences/startTime": nil,
		})
	})

	var orderID string
	t.Run("init", func(t *testing.T) {
		in := b.answer(b.send("init", tx, map[string]any{"order": map[string]any{"@type": "beckn:Order", "beckn:orderStatus": "CREATED",
			"beckn:buyer": buyer(), "beckn:orderItems": orderItems("EVSE-1-1", 2.5), "beckn:payment": payment("INITIATED"),
			"beckn:orderAttributes": orderAttributes()}}))
		want(t, "on_init", in.Msg, map[string]any{
			"order/beckn:id": nil, "order/beckn:orderStatus": "CREATED", "order/beckn:orderValue/value": 53.1,
			"order/beckn:payment/beckn:paymentStatus": "INITIATED", "order/beckn:orderItems/0/beckn:price/value": 21.24,
		})
		orderID, _ = get(in.Msg, "order", "beckn:id").(string)
	})
	if orderID == "" {
		t.Fatal("no order id")
	}

	t.Run("confirm", func(t *testing.T) {
		in := b.answer(b.send("confirm", tx, map[string]any{"order": map[string]any{"@type": "beckn:Order", "beckn:id": orderID,
			"beckn:orderStatus": "PENDING", "beckn:buyer": buyer(), "beckn:orderItems": orderItems("EVSE-1-1", 2.5),
			"beckn:payment": payment("COMPLETED")}}))
		want(t, "on_confirm", in.Msg, map[string]any{
			"order/beckn:id": orderID, "order/beckn:orderStatus": "CONFIRMED", "order/beckn:payment/beckn:paymentStatus": "COMPLETED",
			"order/beckn:fulfillment/@type": "beckn:Fulfillment", "order/beckn:fulfillment/beckn:mode": "RESERVATION",
			"order/beckn:fulfillment/beckn:id": nil,
			session + "@type":                  "ChargingSession", session + "sessionStatus": "PENDING", session + "connectorType": "CCS2",
			session + "reservationId": nil, session + "gracePeriodMinutes": 10,
			session + "buyerFinderFee/feeType": "PERCENTAGE",
		})
		var ss struct {
			Items []api.Session `json:"items"`
		}
		x.s.GetJSON("/api/v1/sessions?charger_id=EVSE-1", &ss)
		if len(ss.Items) != 1 || ss.Items[0].Status != charging.SessionReserved || ss.Items[0].ID != get(in.Msg, "order", "beckn:fulfillment", "beckn:id") {
			t.Errorf("sessions = %+v; want the one reserved session, the fulfillment's", ss.Items)
		}
	})

	t.Run("status-connector", func(t *testing.T) {
		in := b.answer(b.send("status", tx, orderRef(orderID)))
		want(t, "on_status", in.Msg, map[string]any{
			"order/beckn:id": orderID, "order/beckn:orderStatus": "CONFIRMED",
			session + "sessionStatus": "PENDING", session + "connectorStatus": "UNAVAILABLE", // OCPP Reserved
		})
	})

	t.Run("update-start", func(t *testing.T) {
		in := b.answer(b.send("update", tx, updateMsg(orderID, "PENDING")))
		want(t, "on_update", in.Msg, map[string]any{
			"order/beckn:id": orderID, "order/beckn:orderStatus": "INPROGRESS",
			session + "sessionStatus": "ACTIVE", session + "connectorType": "CCS2",
		})
	})

	t.Run("status-telemetry", func(t *testing.T) {
		waitFor(t, "some energy", func() bool {
			var ss struct {
				Items []api.Session `json:"items"`
			}
			x.s.GetJSON("/api/v1/sessions?charger_id=EVSE-1&status=active", &ss)
			return len(ss.Items) == 1 && ss.Items[0].KWh > 0
		})
		for _, action := range []string{"status", "track"} {
			in := b.answer(b.send(action, tx, orderRef(orderID)))
			want(t, "on_"+action, in.Msg, map[string]any{
				"order/beckn:id": orderID, "order/beckn:orderStatus": "INPROGRESS", session + "sessionStatus": "ACTIVE",
				session + "chargingTelemetry/0/eventTime": nil, session + "chargingTelemetry/0/metrics/0/name": nil,
				session + "meteredEnergyKWh": nil, session + "meteredDurationMinutes": nil, session + "totalCost/inclVat": nil,
			})
			for _, iv := range get(in.Msg, strings.Split(session+"chargingTelemetry", "/")...).([]any) {
				for _, m := range get(iv, "metrics").([]any) {
					code, _ := evsession.UnitCodeFor(evsession.MetricName(fmt.Sprint(get(m, "name"))), evsession.UnitsPhysical)
					if get(m, "unitCode") != string(code) {
						t.Errorf("metric %v: unit %v; want %s", get(m, "name"), get(m, "unitCode"), code)
					}
				}
			}
		}
	})

	t.Run("update-stop", func(t *testing.T) {
		c := b.send("update", tx, updateMsg(orderID, "STOP"))
		in := b.answer(c)
		want(t, "on_update (stop)", in.Msg, map[string]any{"order/beckn:id": orderID, session + "sessionStatus": "STOP"})
		done := b.wait("the unsolicited on_update COMPLETED", func(in inbound) bool {
			return in.Action == "on_update" && get(in.Msg, strings.Split(session+"sessionStatus", "/")...) == "COMPLETED"
		})
		if done.Ctx.MessageID == c.MessageID || done.Ctx.TransactionID != tx {
			t.Errorf("completion message_id %s, transaction %s; want a new message id in transaction %s", done.Ctx.MessageID, done.Ctx.TransactionID, tx)
		}
		want(t, "on_update (completed)", done.Msg, map[string]any{
			"order/beckn:id": orderID, "order/beckn:orderStatus": "COMPLETED", "order/beckn:orderValue/currency": "INR",
			"order/beckn:orderValue/components/0/type": "UNIT",
			session + "meteredEnergyKWh":               nil, session + "totalCost/exclVat": nil, session + "totalCost/inclVat": nil,
		})
		kwh := get(done.Msg, strings.Split(session+"meteredEnergyKWh", "/")...).(float64)
		excl := get(done.Msg, strings.Split(session+"totalCost/exclVat", "/")...).(float64)
		if got, w := excl, float64(int64(kwh*18*100+0.5))/100; kwh <= 0 || got != w {
			t.Errorf("exclVat = %v for %v kWh at 18 INR; want %v", got, kwh, w)
		}
		if n := b.count(func(in inbound) bool {
			return in.Action == "on_update" && in.Ctx.TransactionID == tx && in.Ctx.MessageID != c.MessageID
		}); n != 2 { // the start's answer and the completion
			t.Errorf("%d on_update messages; want the start's answer and one completion", n)
		}
	})

	t.Run("rating", func(t *testing.T) {
		in := b.answer(b.send("rating", tx, map[string]any{"ratings": []any{map[string]any{"@type": "beckn:RatingInput", "id": orderID,
			"ratingValue": 4, "bestRating": 5, "worstRating": 1, "category": "FULFILLMENT", "feedback": map[string]any{"comments": "quick"}}}}))
		want(t, "on_rating", in.Msg, map[string]any{"received": true})
		in = b.answer(b.send("rating", tx, map[string]any{"ratings": []any{map[string]any{"id": orderID, "ratingValue": 9}}}))
		want(t, "on_rating (out of range)", in.Err, map[string]any{"code": beckn.CodeInvalidRating})
	})

	t.Run("support", func(t *testing.T) {
		in := b.answer(b.send("support", tx, map[string]any{"refId": orderID, "refType": "ORDER",
			"support": map[string]any{"@type": "beckn:SupportInfo", "name": "Asha", "phone": "+91-9876543210", "channels": []string{"PHONE"}}}))
		want(t, "on_support", in.Msg, map[string]any{"support/@type": "beckn:SupportInfo", "support/email": "support@cpo.example",
			"support/phone": "18001080", "support/channels/0": "PHONE", "support/name": nil})
	})
}

func TestCancelReservation(t *testing.T) {
	x := start(t)
	b := x.bap
	orderID, tx, _ := confirmOrder(t, b, "EVSE-1-2")
	in := b.answer(b.send("cancel", tx, orderRef(orderID)))
	want(t, "on_cancel", in.Msg, map[string]any{
		"order/beckn:id": orderID, "order/beckn:orderStatus": "CANCELLED", "order/beckn:payment/beckn:paymentStatus": "REFUNDED",
	})
	var ss struct {
		Items []api.Session `json:"items"`
	}
	x.s.GetJSON("/api/v1/sessions?charger_id=EVSE-1", &ss)
	if len(ss.Items) != 1 || ss.Items[0].Status != charging.SessionCompleted || ss.Items[0].StopReason != "ReservationCancelled" {
		t.Errorf("sessions = %+v; want the reservation ended as cancelled", ss.Items)
	}
	// Nothing unsolicited follows a cancel the BAP asked for.
	time.Sleep(300 * time.Millisecond)
	if n := b.count(func(in inbound) bool {
		return in.Ctx.TransactionID == tx && in.Action != "on_init" && in.Action != "on_confirm" && in.Action != "on_cancel"
	}); n != 0 {
		t.Errorf("%d further messages after the cancel; want none", n)
	}
	// The connector is free again: a started session cannot be cancelled.
	orderID, tx, _ = confirmOrder(t, b, "EVSE-1-2")
	b.answer(b.send("update", tx, updateMsg(orderID, "ACTIVE")))
	in = b.answer(b.send("cancel", tx, orderRef(orderID)))
	want(t, "on_cancel of a started session", in.Err, map[string]any{"code": beckn.CodeCancelNotPossible})
}

// TestOrderCompletesWhenTheChargerDoesNotQuoteTheReservation: OCPP 1.6
// makes StartTransaction's reservationId optional. A charger that leaves
// it out still starts the reserved session, so the order runs to COMPLETED
// (#18: it stayed PENDING and its stop was refused as "not charging").
func TestOrderCompletesWhenTheChargerDoesNotQuoteTheReservation(t *testing.T) {
	for _, how := range []string{"remote-start", "start-at-the-charger"} {
		t.Run(how, func(t *testing.T) {
			x := startCharger(t, func(c *sim.Config) { c.OmitReservationID = true })
			b := x.bap
			orderID, tx, _ := confirmOrder(t, b, "EVSE-1-1")
			if how == "remote-start" {
				in := b.answer(b.send("update", tx, updateMsg(orderID, "PENDING")))
				want(t, "on_update", in.Msg, map[string]any{"order/beckn:id": orderID, "order/beckn:orderStatus": "INPROGRESS", session + "sessionStatus": "ACTIVE"})
			} else {
				var ss struct {
					Items []api.Session `json:"items"`
				}
				x.s.GetJSON("/api/v1/sessions?charger_id=EVSE-1&status=reserved", &ss)
				if len(ss.Items) != 1 {
					t.Fatalf("sessions = %+v; want one reserved", ss.Items)
				}
				if err := x.cp.StartSession(1, ss.Items[0].IDTag); err != nil {
					t.Fatal(err)
				}
				b.wait("on_status ACTIVE", func(in inbound) bool {
					return in.Action == "on_status" && in.Ctx.TransactionID == tx &&
						get(in.Msg, strings.Split(session+"sessionStatus", "/")...) == "ACTIVE"
				})
			}
			waitFor(t, "the reserved session charging, and no second session", func() bool {
				var ss struct {
					Items []api.Session `json:"items"`
				}
				x.s.GetJSON("/api/v1/sessions?charger_id=EVSE-1", &ss)
				return len(ss.Items) == 1 && ss.Items[0].Status == charging.SessionActive
			})
			in := b.answer(b.send("update", tx, updateMsg(orderID, "STOP")))
			want(t, "on_update (stop)", in.Msg, map[string]any{"order/beckn:id": orderID, session + "sessionStatus": "STOP"})
			done := b.wait("on_update COMPLETED", func(in inbound) bool {
				return in.Action == "on_update" && in.Ctx.TransactionID == tx &&
					get(in.Msg, strings.Split(session+"sessionStatus", "/")...) == "COMPLETED"
			})
			want(t, "on_update (completed)", done.Msg, map[string]any{"order/beckn:id": orderID, "order/beckn:orderStatus": "COMPLETED"})
		})
	}
}

func TestUnsolicitedInterruption(t *testing.T) {
	x := start(t)
	b := x.bap
	orderID, tx, _ := confirmOrder(t, b, "EVSE-1-1")
	b.answer(b.send("update", tx, updateMsg(orderID, "PENDING")))
	if err := x.cp.StopSession(1, "PowerLoss"); err != nil {
		t.Fatal(err)
	}
	in := b.wait("on_status INTERRUPTED", func(in inbound) bool {
		return in.Action == "on_status" && in.Ctx.TransactionID == tx
	})
	want(t, "unsolicited on_status", in.Msg, map[string]any{"order/beckn:id": orderID, session + "sessionStatus": "INTERRUPTED"})
}

func TestUnsolicitedStartAtTheCharger(t *testing.T) {
	x := start(t)
	b := x.bap
	orderID, tx, confirmed := confirmOrder(t, b, "EVSE-1-1")
	_ = confirmed
	// The driver starts at the charger with the reservation's tag (as if
	// presenting the app's QR code): the BAP hears of it unsolicited.
	var ss struct {
		Items []api.Session `json:"items"`
	}
	x.s.GetJSON("/api/v1/sessions?charger_id=EVSE-1&status=reserved", &ss)
	if len(ss.Items) != 1 {
		t.Fatalf("sessions = %+v; want one reserved", ss.Items)
	}
	if err := x.cp.StartSession(1, ss.Items[0].IDTag); err != nil {
		t.Fatal(err)
	}
	in := b.wait("on_status ACTIVE", func(in inbound) bool { return in.Action == "on_status" && in.Ctx.TransactionID == tx })
	want(t, "unsolicited on_status", in.Msg, map[string]any{"order/beckn:id": orderID, "order/beckn:orderStatus": "INPROGRESS", session + "sessionStatus": "ACTIVE"})
}

func TestCallbackRetried(t *testing.T) {
	x := start(t)
	b := x.bap
	b.failNext.Store(2)
	in := b.answer(b.send("discover", charging.NewID(), map[string]any{"filters": map[string]any{"type": "jsonpath", "expression": "$[?(@.beckn:id == 'EVSE-1-1')]"}}))
	if n := len(get(in.Msg, "catalogs", "0", "beckn:items").([]any)); n != 1 {
		t.Errorf("%d items; want 1", n)
	}
	// The BAP has the message before the sender has its answer: wait.
	waitFor(t, "the metrics to count the delivery", func() bool {
		resp, err := http.Get(x.s.URL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		m, _ := io.ReadAll(resp.Body)
		for _, line := range []string{"chargebridge_beckn_requests_acked_total 1", "chargebridge_beckn_callbacks_delivered_total 1", "chargebridge_beckn_callbacks_failed_total 0"} {
			if !strings.Contains(string(m), line+"\n") {
				return false
			}
		}
		return true
	})
}

func TestBusinessErrorsComeAsCallbacks(t *testing.T) {
	x := start(t)
	b := x.bap
	tx := charging.NewID()
	in := b.answer(b.send("select", tx, map[string]any{"order": map[string]any{"beckn:orderItems": orderItems("NOPE-1", 1)}}))
	want(t, "on_select of an unknown item", in.Err, map[string]any{"code": beckn.CodeItemNotFound})
	in = b.answer(b.send("status", tx, orderRef("order-unknown")))
	want(t, "on_status of an unknown order", in.Err, map[string]any{"code": beckn.CodeOrderNotFound})
	in = b.answer(b.send("update", tx, updateMsg("order-unknown", "STOP")))
	want(t, "on_update of an unknown order", in.Err, map[string]any{"code": beckn.CodeOrderNotFound})
}

func TestUnitStyleSwapped(t *testing.T) {
	x := start(t, func(c *server.BecknConfig, _ *signing.KeyPair) { c.Units = "swapped" })
	b := x.bap
	orderID, tx, _ := confirmOrder(t, b, "EVSE-1-1")
	b.answer(b.send("update", tx, updateMsg(orderID, "PENDING")))
	waitFor(t, "telemetry", func() bool {
		in := b.answer(b.send("status", tx, orderRef(orderID)))
		tel, _ := get(in.Msg, strings.Split(session+"chargingTelemetry", "/")...).([]any)
		for _, iv := range tel {
			for _, m := range get(iv, "metrics").([]any) {
				switch get(m, "name") {
				case "ENERGY":
					if get(m, "unitCode") != "KW" {
						t.Fatalf("ENERGY unit %v; want KW in the swapped style", get(m, "unitCode"))
					}
					return true
				case "POWER":
					if get(m, "unitCode") != "KWH" {
						t.Fatalf("POWER unit %v; want KWH in the swapped style", get(m, "unitCode"))
					}
				}
			}
		}
		return false
	})
}

// TestKeysFromRegistry looks the BAP's key up in a registry (a real HTTP
// server speaking the registry lookup API) instead of a subscribers file.
func TestKeysFromRegistry(t *testing.T) {
	var lookups atomic.Int32
	x := start(t, func(c *server.BecknConfig, bap *signing.KeyPair) {
		reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			lookups.Add(1)
			var q struct {
				SubscriberID string `json:"subscriber_id"`
				KeyID        string `json:"key_id"`
			}
			_ = json.NewDecoder(r.Body).Decode(&q)
			if q.SubscriberID != bap.ID.SubscriberID || q.KeyID != bap.ID.UniqueKeyID {
				http.NotFound(w, r)
				return
			}
			_ = json.NewEncoder(w).Encode([]map[string]any{{"subscriber_id": q.SubscriberID, "key_id": q.KeyID,
				"signing_public_key": bap.PublicKeyBase64(), "status": "SUBSCRIBED",
				"valid_until": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}})
		}))
		t.Cleanup(reg.Close)
		c.Subscribers, c.Registry = "", reg.URL+"/lookup"
	})
	b := x.bap
	for range 2 {
		in := b.answer(b.send("discover", charging.NewID(), map[string]any{"text_search": "charger"}))
		if n := len(get(in.Msg, "catalogs", "0", "beckn:items").([]any)); n != 2 {
			t.Errorf("%d items; want 2", n)
		}
	}
	if n := lookups.Load(); n != 1 {
		t.Errorf("%d registry lookups; want 1 (the key is cached)", n)
	}
}
