package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/web"
)

// call sends a JSON request to the operator API and returns the status and
// the raw answer.
func call(t *testing.T, s *cbtest.Server, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// mustCall is call that requires the status.
func mustCall(t *testing.T, s *cbtest.Server, method, path, body string, want int) []byte {
	t.Helper()
	st, b := call(t, s, method, path, body)
	if st != want {
		t.Fatalf("%s %s: status %d; want %d\n%s", method, path, st, want, b)
	}
	return b
}

// pricedCharger registers and connects a charger whose connector 1 is
// about to charge.
func pricedCharger(t *testing.T, s *cbtest.Server, id string) *cbtest.Client {
	t.Helper()
	mustCall(t, s, "POST", "/api/v1/chargers", `{"id":"`+id+`"}`, http.StatusCreated)
	c := s.MustDial(id)
	boot(t, c)
	return c
}

// startAt starts a transaction on connector 1 and returns its id.
func startAt(t *testing.T, c *cbtest.Client, ts string, meterStart int) int64 {
	t.Helper()
	var start startConf
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "PRICE-TAG", "meterStart": meterStart, "timestamp": ts}, &start)
	return start.TransactionID
}

// sample sends one MeterValues sample of the register (Wh) and power (W).
func sample(t *testing.T, c *cbtest.Client, tx int64, ts string, wh, w int) {
	t.Helper()
	c.MustCall("MeterValues", map[string]any{"connectorId": 1, "transactionId": tx, "meterValue": []any{map[string]any{
		"timestamp": ts, "sampledValue": []any{
			map[string]any{"value": itoa(int64(wh)), "unit": "Wh", "measurand": "Energy.Active.Import.Register"},
			map[string]any{"value": itoa(int64(w)), "unit": "W", "measurand": "Power.Active.Import"},
		},
	}}}, nil)
}

func stopAt(t *testing.T, c *cbtest.Client, tx int64, ts string, meterStop int) {
	t.Helper()
	c.MustCall("StopTransaction", map[string]any{"transactionId": tx, "meterStop": meterStop, "timestamp": ts, "reason": "EVDisconnected"}, nil)
}

// apiCost is the session's total_cost as "excl/incl currency", or "none".
func apiCost(t *testing.T, s *cbtest.Server, tx int64) string {
	t.Helper()
	sess := getSession(t, s, tx)
	if sess.TotalCost == nil {
		return "none"
	}
	return sess.TotalCost.ExclVat.String() + "/" + sess.TotalCost.InclVat.String() + " " + sess.TotalCost.Currency
}

// period is an OCPI charging period, decoded loosely.
type period struct {
	StartDateTime string `json:"start_date_time"`
	TariffID      string `json:"tariff_id"`
	Dimensions    []struct {
		Type   string      `json:"type"`
		Volume json.Number `json:"volume"`
	} `json:"dimensions"`
}

// String writes the period as "start tariff TYPE=volume ...".
func (p period) String() string {
	parts := []string{p.StartDateTime, p.TariffID}
	for _, d := range p.Dimensions {
		parts = append(parts, d.Type+"="+string(d.Volume))
	}
	return strings.Join(parts, " ")
}

// views is the dashboard's views endpoint, decoded loosely.
type views struct {
	OCPI struct {
		CountryCode string `json:"country_code"`
		PartyID     string `json:"party_id"`
		Status      string `json:"status"`
		Currency    string `json:"currency"`
		TotalCost   *struct {
			ExclVat json.Number `json:"excl_vat"`
			InclVat json.Number `json:"incl_vat"`
		} `json:"total_cost"`
		ChargingPeriods []period `json:"charging_periods"`
	} `json:"ocpi"`
	Beckn struct {
		TotalCost *struct {
			ExclVat json.Number `json:"exclVat"`
			InclVat json.Number `json:"inclVat"`
		} `json:"totalCost"`
	} `json:"beckn"`
}

func getViews(t *testing.T, s *cbtest.Server, tx int64) views {
	t.Helper()
	id := getSession(t, s, tx).ID
	b := mustCall(t, s, "GET", "/api/v1/sessions/"+id+"/views", "", http.StatusOK)
	var v views
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("views: %v\n%s", err, b)
	}
	var check web.SessionViews
	if err := json.Unmarshal(b, &check); err != nil {
		t.Fatalf("views do not decode as web.SessionViews: %v", err)
	}
	return v
}

const acTariff = `{"country_code":"NL","party_id":"CBR","id":"AC-1","currency":"EUR","elements":[{"price_components":[
	{"type":"FLAT","price":0.50,"vat":20,"step_size":0},
	{"type":"ENERGY","price":0.30,"vat":20,"step_size":1},
	{"type":"PARKING_TIME","price":6.00,"vat":20,"step_size":60}]}]}`

func TestSessionPricedThroughTheAPI(t *testing.T) {
	clock := cbtest.NewClock(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	s := cbtest.Start(t, cbtest.WithClock(clock), cbtest.Configure(func(c *server.Config) {
		c.AcceptUnknownTags = true
		c.OCPICountry, c.OCPIParty = "de", "abc" // the views must show the CPO's own identity, as pushed
	}))
	mustCall(t, s, "PUT", "/api/v1/tariffs/AC-1", acTariff, http.StatusCreated)
	mustCall(t, s, "PUT", "/api/v1/tariffs/AC-1", acTariff, http.StatusOK) // a replace
	c := pricedCharger(t, s, "CP-PRICE")
	mustCall(t, s, "PUT", "/api/v1/tariffs/assignments", `{"charger_id":"CP-PRICE","connector_id":1,"tariff_id":"AC-1"}`, http.StatusOK)

	tx := startAt(t, c, "2026-11-21T10:00:00Z", 1000)
	sample(t, c, tx, "2026-11-21T10:30:00Z", 12000, 22000)
	sample(t, c, tx, "2026-11-21T11:00:00Z", 23000, 0) // full: no more energy, no power
	stopAt(t, c, tx, "2026-11-21T11:30:00Z", 23000)
	clock.Set(time.Date(2026, 11, 21, 11, 31, 0, 0, time.UTC))

	// By hand: 22 kWh charged 10:00–11:00; 11:00–11:30 plugged in with no
	// power and no energy, which is parking (0.5 h).
	//   FLAT                  0.50
	//   ENERGY  22 kWh × 0.30 = 6.60
	//   PARKING 0.5 h × 6.00  = 3.00
	//   excl. VAT            10.10; incl. 20 % VAT 12.12
	if got := apiCost(t, s, tx); got != "10.1/12.12 EUR" {
		t.Fatalf("API total_cost = %s; want 10.1/12.12 EUR", got)
	}
	v := getViews(t, s, tx)
	if v.OCPI.CountryCode != "DE" || v.OCPI.PartyID != "ABC" {
		t.Errorf("OCPI view of %s/%s; want the CPO's DE/ABC (#18: they were empty)", v.OCPI.CountryCode, v.OCPI.PartyID)
	}
	if v.OCPI.TotalCost == nil || v.OCPI.TotalCost.ExclVat != "10.1" || v.OCPI.TotalCost.InclVat != "12.12" || v.OCPI.Currency != "EUR" {
		t.Fatalf("OCPI total_cost = %+v %s; want 10.1/12.12 EUR", v.OCPI.TotalCost, v.OCPI.Currency)
	}
	if n := len(v.OCPI.ChargingPeriods); n != 2 {
		t.Fatalf("OCPI charging_periods: %d; want 2 (charging, parking)", n)
	}
	if got := v.OCPI.ChargingPeriods[0].String(); got != "2026-11-21T10:00:00Z AC-1 ENERGY=22 TIME=1 MAX_POWER=22 MIN_POWER=22" {
		t.Errorf("first period = %s; want 22 kWh in 1 h from 10:00", got)
	}
	if got := v.OCPI.ChargingPeriods[1].String(); got != "2026-11-21T11:00:00Z AC-1 PARKING_TIME=0.5 MAX_POWER=0 MIN_POWER=0 MAX_CURRENT=0 MIN_CURRENT=0" {
		t.Errorf("second period = %s; want 0.5 h parking from 11:00", got)
	}
	if v.Beckn.TotalCost == nil || v.Beckn.TotalCost.ExclVat != "10.1" || v.Beckn.TotalCost.InclVat != "12.12" {
		t.Fatalf("Beckn totalCost = %+v; want 10.1/12.12", v.Beckn.TotalCost)
	}
	// Lists do not price.
	var page struct {
		Items []api.Session `json:"items"`
	}
	s.GetJSON("/api/v1/sessions", &page)
	if len(page.Items) != 1 || page.Items[0].TotalCost != nil {
		t.Fatalf("session list = %+v; want one session without total_cost", page.Items)
	}
	// The price is fixed when the session ends: a new price later does
	// not change it.
	mustCall(t, s, "PUT", "/api/v1/tariffs/AC-1", strings.Replace(acTariff, "0.30", "0.99", 1), http.StatusOK)
	if got := apiCost(t, s, tx); got != "10.1/12.12 EUR" {
		t.Fatalf("after a tariff change total_cost = %s; want the price at stop", got)
	}
}

func TestRunningSessionEstimateGrowsWithTheDefaultTariff(t *testing.T) {
	clock := cbtest.NewClock(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	s := cbtest.Start(t, cbtest.WithClock(clock), cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	mustCall(t, s, "PUT", "/api/v1/tariffs/STANDARD", `{"country_code":"NL","party_id":"CBR","id":"STANDARD","currency":"EUR","elements":[{"price_components":[
		{"type":"ENERGY","price":"0.30","step_size":1},{"type":"TIME","price":"2.00","step_size":1}]}]}`, http.StatusCreated)
	// No assignment for the connector or the charger: the default applies.
	mustCall(t, s, "PUT", "/api/v1/tariffs/assignments", `{"default":true,"tariff_id":"STANDARD"}`, http.StatusOK)
	c := pricedCharger(t, s, "CP-RUN")
	tx := startAt(t, c, "2026-11-21T10:00:00Z", 5000)
	sample(t, c, tx, "2026-11-21T10:15:00Z", 7750, 11000)
	clock.Set(time.Date(2026, 11, 21, 10, 15, 0, 0, time.UTC))
	// 2.75 kWh × 0.30 = 0.825, 0.25 h × 2.00 = 0.50: 1.325 (no VAT), in cents
	// half away from zero: 1.33.
	if got := apiCost(t, s, tx); got != "1.33/1.33 EUR" {
		t.Fatalf("estimate at 10:15 = %s; want 1.33/1.33 EUR", got)
	}
	sample(t, c, tx, "2026-11-21T10:30:00Z", 10500, 11000)
	clock.Set(time.Date(2026, 11, 21, 10, 30, 0, 0, time.UTC))
	// 5.5 kWh × 0.30 = 1.65, 0.5 h × 2.00 = 1.00: 2.65.
	if got := apiCost(t, s, tx); got != "2.65/2.65 EUR" {
		t.Fatalf("estimate at 10:30 = %s; want 2.65/2.65 EUR", got)
	}
	v := getViews(t, s, tx)
	if v.OCPI.Status != "ACTIVE" || v.OCPI.TotalCost == nil || v.OCPI.TotalCost.ExclVat != "2.65" || v.Beckn.TotalCost == nil || v.Beckn.TotalCost.InclVat != "2.65" {
		t.Fatalf("views of the running session = %+v; want ACTIVE, 2.65 in both", v)
	}
	var list api.Assignments
	if err := json.Unmarshal(mustCall(t, s, "GET", "/api/v1/tariffs/assignments", "", http.StatusOK), &list); err != nil || list.Default != "STANDARD" || len(list.Items) != 0 {
		t.Fatalf("assignments = %+v (%v); want only the default STANDARD", list, err)
	}
}

func TestTimeOfDayInTheLocationsTimeZone(t *testing.T) {
	clock := cbtest.NewClock(time.Date(2026, 11, 21, 18, 0, 0, 0, time.UTC))
	s := cbtest.Start(t, cbtest.WithClock(clock), cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	// 0.40/kWh from 18:00 to 22:00 local time, 0.20 otherwise.
	mustCall(t, s, "PUT", "/api/v1/tariffs/PEAK", `{"country_code":"NL","party_id":"CBR","id":"PEAK","currency":"EUR","last_updated":"2026-11-01T00:00:00Z","elements":[
		{"price_components":[{"type":"ENERGY","price":0.40,"step_size":1}],"restrictions":{"start_time":"18:00","end_time":"22:00"}},
		{"price_components":[{"type":"ENERGY","price":0.20,"step_size":1}]}]}`, http.StatusCreated)
	mustCall(t, s, "PUT", "/api/v1/tariffs/assignments", `{"default":true,"tariff_id":"PEAK"}`, http.StatusOK)
	cost := map[string]string{}
	for _, id := range []string{"CP-AMS", "CP-UTC"} {
		c := pricedCharger(t, s, id)
		if id == "CP-AMS" {
			var l struct {
				TimeZone string `json:"time_zone"`
				Default  bool   `json:"default_time_zone"`
			}
			_ = json.Unmarshal(mustCall(t, s, "PUT", "/api/v1/chargers/CP-AMS/location", `{"time_zone":"Europe/Amsterdam","city":"Amsterdam"}`, http.StatusOK), &l)
			if l.TimeZone != "Europe/Amsterdam" || l.Default {
				t.Fatalf("location = %+v; want Europe/Amsterdam", l)
			}
		} else {
			b := mustCall(t, s, "GET", "/api/v1/chargers/CP-UTC/location", "", http.StatusOK)
			if !strings.Contains(string(b), `"time_zone": "UTC"`) || !strings.Contains(string(b), `"default_time_zone": true`) {
				t.Fatalf("location without one = %s; want the server's default UTC", b)
			}
		}
		// 20 kWh at 20 kW, 16:30–17:30 UTC: 17:30–18:30 in Amsterdam
		// (UTC+1 in November), where the peak starts at 17:00 UTC.
		tx := startAt(t, c, "2026-11-21T16:30:00Z", 0)
		sample(t, c, tx, "2026-11-21T16:45:00Z", 5000, 20000)
		sample(t, c, tx, "2026-11-21T17:00:00Z", 10000, 20000)
		sample(t, c, tx, "2026-11-21T17:15:00Z", 15000, 20000)
		stopAt(t, c, tx, "2026-11-21T17:30:00Z", 20000)
		cost[id] = apiCost(t, s, tx)
		if id == "CP-AMS" {
			v := getViews(t, s, tx)
			var got []string
			for _, p := range v.OCPI.ChargingPeriods {
				got = append(got, p.StartDateTime+" "+p.Dimensions[0].Type+"="+string(p.Dimensions[0].Volume))
			}
			if want := "2026-11-21T16:30:00Z ENERGY=10,2026-11-21T17:00:00Z ENERGY=10"; strings.Join(got, ",") != want {
				t.Errorf("OCPI periods = %v; want a new period at 18:00 local (%s)", got, want)
			}
		}
	}
	// Amsterdam: 10 kWh × 0.20 before 18:00 local + 10 kWh × 0.40 after = 6.00.
	// UTC: the whole session is before 18:00, 20 kWh × 0.20 = 4.00.
	if cost["CP-AMS"] != "6/6 EUR" || cost["CP-UTC"] != "4/4 EUR" {
		t.Fatalf("costs = %v; want CP-AMS 6/6 EUR (Amsterdam time), CP-UTC 4/4 EUR", cost)
	}
}

func TestTariffEndpointErrors(t *testing.T) {
	s := cbtest.Start(t)
	mustCall(t, s, "POST", "/api/v1/chargers", `{"id":"CP-E"}`, http.StatusCreated)
	// Every problem is listed, with its JSON path.
	b := mustCall(t, s, "PUT", "/api/v1/tariffs/BAD", `{"country_code":"NLD","party_id":"CBR","currency":"eur","elements":[{"price_components":[{"type":"KWH","price":-1}]}]}`, http.StatusBadRequest)
	var bad struct {
		Problems []api.Problem `json:"problems"`
	}
	if err := json.Unmarshal(b, &bad); err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for _, p := range bad.Problems {
		fields[p.Field] = true
	}
	for _, f := range []string{"country_code", "currency", "elements[0].price_components[0].type", "elements[0].price_components[0].price"} {
		if !fields[f] {
			t.Errorf("problems %+v lack %s", bad.Problems, f)
		}
	}
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"PUT", "/api/v1/tariffs/T1", `{"id":"T2","country_code":"NL","party_id":"CBR","currency":"EUR","elements":[{"price_components":[{"type":"FLAT","price":1,"step_size":0}]}]}`, 400},
		{"PUT", "/api/v1/tariffs/T1", `{"country_code":"NL","party_id":"CBR","currency":"EUR","elements":[],"colour":"red"}`, 400},
		{"PUT", "/api/v1/tariffs/T1", `not json`, 400},
		{"PUT", "/api/v1/tariffs/T1", `{"country_code":"NL","party_id":"CBR","currency":"EUR","elements":[{"price_components":[{"type":"FLAT","price":1,"step_size":0}]}]}`, 201},
		{"GET", "/api/v1/tariffs/NOPE", "", 404},
		{"GET", "/api/v1/tariffs/T1", "", 200},
		{"PUT", "/api/v1/tariffs/assignments", `{"charger_id":"CP-NOPE","tariff_id":"T1"}`, 404},
		{"PUT", "/api/v1/tariffs/assignments", `{"charger_id":"CP-E","tariff_id":"NOPE"}`, 400},
		{"PUT", "/api/v1/tariffs/assignments", `{"tariff_id":"T1"}`, 400},
		{"PUT", "/api/v1/tariffs/assignments", `{"charger_id":"CP-E","connector_id":-1,"tariff_id":"T1"}`, 400},
		{"PUT", "/api/v1/tariffs/assignments", `{"charger_id":"CP-E","tariff_id":"T1"}`, 200},
		{"DELETE", "/api/v1/tariffs/T1", "", 409},
		{"PUT", "/api/v1/tariffs/assignments", `{"charger_id":"CP-E"}`, 200},
		{"DELETE", "/api/v1/tariffs/T1", "", 204},
		{"DELETE", "/api/v1/tariffs/T1", "", 404},
		{"PUT", "/api/v1/chargers/CP-E/location", `{"time_zone":"Europe/Atlantis"}`, 400},
		{"PUT", "/api/v1/chargers/CP-E/location", `{"time_zone":"Local"}`, 400},
		{"PUT", "/api/v1/chargers/CP-E/location", `{"charger_id":"CP-X","time_zone":"UTC"}`, 400},
		{"PUT", "/api/v1/chargers/CP-NOPE/location", `{"time_zone":"UTC"}`, 404},
		{"GET", "/api/v1/chargers/CP-NOPE/location", "", 404},
	} {
		if st, b := call(t, s, tc.method, tc.path, tc.body); st != tc.want {
			t.Errorf("%s %s %s: status %d; want %d\n%s", tc.method, tc.path, tc.body, st, tc.want, b)
		}
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(mustCall(t, s, "GET", "/api/v1/tariffs", "", http.StatusOK), &list); err != nil || len(list.Items) != 0 {
		t.Fatalf("tariffs after delete = %s (%v); want none", list.Items, err)
	}
}

func TestTimeZoneFlag(t *testing.T) {
	cfg := server.Config{HTTP: "127.0.0.1:0", DB: "sqlite:x.db", HeartbeatInterval: time.Minute, LogLevel: "info", LogFormat: "text", TimeZone: "Mars/Olympus"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--time-zone") {
		t.Fatalf("Validate(--time-zone Mars/Olympus) = %v; want an error naming --time-zone", err)
	}
	cfg.TimeZone = "America/New_York"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
