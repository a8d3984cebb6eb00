package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/server"
)

// TestDataChargersReallySend drives the data cases of #18 item 4 through a
// real server with a raw OCPP 1.6 client: each is answered, stored as
// reported, flagged, kept out of the session's totals, counted in /metrics
// and listed in the charger's tolerance log (GET …/violations).
func TestDataChargersReallySend(t *testing.T) {
	reg := func(ts, wh string, context string) map[string]any {
		v := map[string]any{"value": wh, "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
		if context != "" {
			v["context"] = context
		}
		return map[string]any{"timestamp": ts, "sampledValue": []map[string]any{v}}
	}
	tests := []struct {
		name       string
		meterStart int64
		connector  int64
		// meters are MeterValues messages, each a list of meterValue.
		meters  [][]map[string]any
		kind    string
		wantKWh float64
		// example is a part of the violation's last example.
		example string
	}{
		// Energy 1000 → 2500 Wh: 1.5 kWh; counted from 0 when meterStart is -5.
		{"meter-start-negative", -5, 1, [][]map[string]any{{reg("2026-11-21T10:10:00Z", "1500", "")}}, "meter-start-negative", 1.5, "meterStart -5"},
		{"connector-out-of-range", 1000, 2147483648, [][]map[string]any{{reg("2026-11-21T10:10:00Z", "2500", "")}}, "connector-out-of-range", 1.5, "connector 2147483648"},
		// 1e300 Wh would make the session 1e297 kWh.
		{"register-implausible", 1000, 1, [][]map[string]any{{reg("2026-11-21T10:10:00Z", "2500", "")}, {reg("2026-11-21T10:20:00Z", "1e300", "")}}, "register-implausible", 1.5, "1e300"},
		// A replaced meter reads 300 Wh after 2500: the session keeps 1.5 kWh.
		{"register-backwards", 1000, 1, [][]map[string]any{{reg("2026-11-21T10:10:00Z", "2500", "")}, {reg("2026-11-21T10:20:00Z", "300", "")}}, "register-backwards", 1.5, "highest so far 2500"},
		// A Begin reading of 900000 Wh next to a periodic 2500 in one message:
		// the Begin one is not the session's.
		{"begin-and-periodic", 1000, 1, [][]map[string]any{{reg("2026-11-21T10:00:05Z", "900000", "Transaction.Begin"), reg("2026-11-21T10:10:00Z", "2500", "Sample.Periodic")}}, "begin-and-periodic", 1.5, "Transaction.Begin"},
	}
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("CP-D%d", i)
			c := s.MustDial(id)
			defer c.Close()
			boot(t, c)
			for conn := 1; conn <= 2; conn++ {
				c.MustCall("StatusNotification", map[string]any{"connectorId": conn, "errorCode": "NoError", "status": "Available", "timestamp": "2026-11-21T10:00:00Z"}, nil)
			}
			var start startConf
			c.MustCall("StartTransaction", map[string]any{"connectorId": tt.connector, "idTag": "TAG-D", "meterStart": tt.meterStart, "timestamp": "2026-11-21T10:00:05Z"}, &start)
			if start.TransactionID <= 0 || start.IDTagInfo.Status != "Accepted" {
				t.Fatalf("start = %+v; want a transaction and Accepted (the charger has started already)", start)
			}
			for _, mv := range tt.meters {
				c.MustCall("MeterValues", map[string]any{"connectorId": 1, "transactionId": start.TransactionID, "meterValue": mv}, nil)
			}
			sess := getSession(t, s, start.TransactionID)
			if math.Abs(sess.KWh-tt.wantKWh) > 1e-9 || sess.MeterStartWh != tt.meterStart {
				t.Errorf("session kWh %v, meter start %d; want %v kWh, meter start %d as reported", sess.KWh, sess.MeterStartWh, tt.wantKWh, tt.meterStart)
			}
			if tt.kind == "register-implausible" || tt.kind == "register-backwards" || tt.kind == "begin-and-periodic" {
				samples := sessionSamples(t, s, sess.ID)
				flagged := 0
				for _, sm := range samples {
					for _, v := range sm.Values {
						if v.Flagged == tt.kind {
							flagged++
						}
					}
				}
				if flagged != 1 || len(samples) != countValues(tt.meters) {
					t.Errorf("%d samples stored, %d flagged %s; want every reading stored as reported and one flagged", len(samples), flagged, tt.kind)
				}
			}
			rec := violation(t, s, id, tt.kind)
			if rec.Count != 1 || rec.Outcome != charging.ViolationFlagged || !strings.Contains(rec.LastExample, tt.example) {
				t.Errorf("violation %+v; want one flagged, with %q in its example", rec, tt.example)
			}
			m := scrape(t, s)
			want(t, m, `chargebridge_violations_total{kind="`+strings.ReplaceAll(tt.kind, "-", "_")+`",outcome="flagged"}`, 1)
			page := chargerPage(t, s, id)
			if !strings.Contains(page, `id="violations"`) || !strings.Contains(page, "<td>"+tt.kind+"</td>") || !strings.Contains(page, "violation-flagged") {
				t.Errorf("the charger page does not list the flagged %s", tt.kind)
			}
		})
	}

	t.Run("status-out-of-order", func(t *testing.T) {
		c := s.MustDial("CP-DO")
		defer c.Close()
		boot(t, c)
		c.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": "2026-11-21T10:05:00Z"}, nil)
		c.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "2026-11-21T10:00:00Z"}, nil)
		rec := violation(t, s, "CP-DO", "status-out-of-order")
		if rec.Count != 1 || rec.Outcome != charging.ViolationTolerated || !strings.Contains(rec.LastExample, "Available") {
			t.Errorf("violation %+v; want the older Available tolerated once", rec)
		}
		var ch struct {
			Connectors []struct {
				ConnectorID int    `json:"connector_id"`
				Status      string `json:"status"`
			} `json:"connectors"`
		}
		s.GetJSON("/api/v1/chargers/CP-DO", &ch)
		for _, cn := range ch.Connectors {
			if cn.ConnectorID == 1 && cn.Status != "Charging" {
				t.Errorf("connector 1 is %s; want the newer Charging kept", cn.Status)
			}
		}
	})

	t.Run("stop-unknown-transaction", func(t *testing.T) {
		c := s.MustDial("CP-DS")
		defer c.Close()
		boot(t, c)
		for _, tx := range []int64{-1, 987654} {
			var conf struct {
				IDTagInfo *idTagInfo `json:"idTagInfo"`
			}
			c.MustCall("StopTransaction", map[string]any{"transactionId": tx, "meterStop": 5000, "timestamp": "2026-11-21T11:00:00Z", "idTag": "TAG-D"}, &conf)
			if conf.IDTagInfo == nil || conf.IDTagInfo.Status != "Accepted" {
				t.Errorf("stop of transaction %d answered %+v; want Accepted", tx, conf)
			}
		}
		var page struct {
			Items []struct{ ID string } `json:"items"`
		}
		if st := s.GetJSON("/api/v1/sessions?charger_id=CP-DS", &page); st != http.StatusOK || len(page.Items) != 0 {
			t.Errorf("sessions of CP-DS: status %d, %d sessions; want none (no zombie)", st, len(page.Items))
		}
		rec := violation(t, s, "CP-DS", "stop-unknown-transaction")
		if rec.Count != 2 || !strings.Contains(rec.LastExample, "987654") {
			t.Errorf("violation %+v; want both stops counted", rec)
		}
		var events struct {
			Items []struct{ Kind string } `json:"items"`
		}
		if st := s.GetJSON("/api/v1/chargers/CP-DS/events", &events); st != http.StatusOK {
			t.Fatalf("events of CP-DS: status %d", st)
		}
		n := 0
		for _, e := range events.Items {
			if e.Kind == charging.EventUnmatchedStop {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d unmatched stops recorded; want 2", n)
		}
		m := scrape(t, s)
		want(t, m, `chargebridge_violations_total{kind="stop_unknown_transaction",outcome="flagged"}`, 2)
	})

	if st := s.GetJSON("/api/v1/chargers/NOPE/violations", nil); st != http.StatusNotFound {
		t.Errorf("violations of an unknown charger: status %d; want 404", st)
	}
}

func countValues(meters [][]map[string]any) int {
	n := 0
	for _, mv := range meters {
		n += len(mv)
	}
	return n
}

func violation(t *testing.T, s *cbtest.Server, chargerID, kind string) charging.ViolationRecord {
	t.Helper()
	var page struct {
		Items []charging.ViolationRecord `json:"items"`
	}
	if st := s.GetJSON("/api/v1/chargers/"+chargerID+"/violations", &page); st != http.StatusOK {
		t.Fatalf("violations of %s: status %d", chargerID, st)
	}
	for _, r := range page.Items {
		if r.Kind == kind {
			return r
		}
	}
	t.Fatalf("violations of %s = %+v; want one of kind %s", chargerID, page.Items, kind)
	return charging.ViolationRecord{}
}

func sessionSamples(t *testing.T, s *cbtest.Server, sessionID string) []charging.MeterSample {
	t.Helper()
	var v struct {
		Samples []charging.MeterSample `json:"samples"`
	}
	if st := s.GetJSON("/api/v1/sessions/"+sessionID, &v); st != http.StatusOK {
		t.Fatalf("session %s: status %d", sessionID, st)
	}
	return v.Samples
}

// chargerPage returns the dashboard's page of a charger.
func chargerPage(t *testing.T, s *cbtest.Server, id string) string {
	t.Helper()
	resp, err := http.Get(s.URL() + "/chargers/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("charger page of %s: status %d, %v", id, resp.StatusCode, err)
	}
	return string(b)
}

// TestTolerateSwitch: by default a BootNotification with a serial number
// longer than the schema allows (a known vendor quirk) is refused and
// recorded as refused; with the charger's tolerate switch on it is
// accepted and recorded as tolerated; a fault that is no known quirk is
// refused either way.
func TestTolerateSwitch(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	c := s.MustDial("CP-TOL")
	defer c.Close()
	long := map[string]any{"chargePointVendor": "Schneider Electric", "chargePointModel": "EVlink", "chargePointSerialNumber": strings.Repeat("S", 30)}
	if code := cbtest.ErrorCode(c.Call("BootNotification", long)); code != "PropertyConstraintViolation" {
		t.Fatalf("strict charger's long serial: %q; want PropertyConstraintViolation", code)
	}
	if rec := violation(t, s, "CP-TOL", "string-too-long"); rec.Outcome != charging.ViolationRefused || rec.Count != 1 {
		t.Errorf("strict: %+v; want one refused", rec)
	}
	if st, b := call(t, s, "PUT", "/api/v1/chargers/CP-TOL/tolerance", `{"tolerate":true}`); st != http.StatusOK {
		t.Fatalf("switch tolerance: %d %s", st, b)
	}
	var conf struct{ Status string }
	c.MustCall("BootNotification", long, &conf)
	if conf.Status != "Accepted" {
		t.Fatalf("tolerated boot: %+v; want Accepted", conf)
	}
	toleratedOnce(t, s, "CP-TOL", "string-too-long")
	if code := cbtest.ErrorCode(c.Call("BootNotification", map[string]any{"chargePointModel": "EVlink"})); code == "" {
		t.Error("a boot without its vendor was admitted under tolerate; only known quirks are")
	}
	if st, _ := call(t, s, "PUT", "/api/v1/chargers/NOPE/tolerance", `{"tolerate":true}`); st != http.StatusNotFound {
		t.Errorf("tolerance of an unknown charger: %d; want 404", st)
	}
}

// TestTolerateSwitch201: a 2.0.1 station is screened the same way: an
// over-long serial number is refused and recorded as refused, then, with
// the tolerate switch on, accepted and recorded as tolerated.
func TestTolerateSwitch201(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	st, err := cbtest.DialURL(t, s.WSURL()+"/ST-TOL", "ocpp2.0.1")
	if err != nil {
		t.Fatal(err)
	}
	long := json.RawMessage(`{"chargingStation":{"model":"M2","vendorName":"V2","serialNumber":"` + strings.Repeat("S", 30) + `"},"reason":"PowerUp"}`)
	if code := cbtest.ErrorCode(st.Call("BootNotification", long)); code == "" {
		t.Fatal("strict station's long serial was admitted")
	}
	if rec := violation(t, s, "ST-TOL", "string-too-long"); rec.Outcome != charging.ViolationRefused || rec.Count != 1 {
		t.Errorf("strict: %+v; want one refused", rec)
	}
	if code, b := call(t, s, "PUT", "/api/v1/chargers/ST-TOL/tolerance", `{"tolerate":true}`); code != http.StatusOK {
		t.Fatalf("switch tolerance: %d %s", code, b)
	}
	var conf struct{ Status string }
	st.MustCall("BootNotification", long, &conf)
	if conf.Status != "Accepted" {
		t.Fatalf("tolerated boot: %+v; want Accepted", conf)
	}
	toleratedOnce(t, s, "ST-TOL", "string-too-long")
}

// toleratedOnce checks that the charger's violations hold kind, tolerated
// once.
func toleratedOnce(t *testing.T, s *cbtest.Server, chargerID, kind string) {
	t.Helper()
	var page struct {
		Items []charging.ViolationRecord `json:"items"`
	}
	s.GetJSON("/api/v1/chargers/"+chargerID+"/violations", &page)
	for _, r := range page.Items {
		if r.Kind == kind && r.Outcome == charging.ViolationTolerated && r.Count == 1 {
			return
		}
	}
	t.Errorf("violations of %s %+v; want %s tolerated once", chargerID, page.Items, kind)
}
