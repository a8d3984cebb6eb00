package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/server"
)

type idTagInfo struct {
	Status      string `json:"status"`
	ExpiryDate  string `json:"expiryDate"`
	ParentIDTag string `json:"parentIdTag"`
}

type startConf struct {
	TransactionID int64     `json:"transactionId"`
	IDTagInfo     idTagInfo `json:"idTagInfo"`
}

func boot(t *testing.T, c *cbtest.Client) {
	t.Helper()
	var conf struct {
		Status   string `json:"status"`
		Interval int    `json:"interval"`
	}
	c.MustCall("BootNotification", map[string]any{"chargePointVendor": "Acme", "chargePointModel": "AC22", "firmwareVersion": "1.2.3"}, &conf)
	if conf.Status != "Accepted" || conf.Interval != 300 {
		t.Fatalf("boot = %+v; want Accepted with interval 300", conf)
	}
}

func meter(ts string, wh, w, soc string) map[string]any {
	return map[string]any{"timestamp": ts, "sampledValue": []map[string]any{
		{"value": wh, "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
		{"value": w, "measurand": "Power.Active.Import", "unit": "W"},
		{"value": "16", "measurand": "Current.Import", "unit": "A"},
		{"value": "230", "measurand": "Voltage", "unit": "V"},
		{"value": soc, "measurand": "SoC", "unit": "Percent", "location": "EV"},
	}}
}

func getSession(t *testing.T, s *cbtest.Server, txID int64) api.Session {
	t.Helper()
	var page struct {
		Items []api.Session `json:"items"`
	}
	if st := s.GetJSON("/api/v1/sessions?limit=500", &page); st != http.StatusOK {
		t.Fatalf("list sessions: status %d", st)
	}
	for _, it := range page.Items {
		if it.TransactionID == strconv.FormatInt(txID, 10) {
			var full api.Session
			s.GetJSON("/api/v1/sessions/"+it.ID, &full)
			return full
		}
	}
	t.Fatalf("no session with transaction %d in %+v", txID, page.Items)
	return api.Session{}
}

func TestFullSession(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	if st := s.PostJSON("/api/v1/tags", map[string]any{"id_tag": "TAG-1"}, nil); st != http.StatusCreated {
		t.Fatalf("add tag: status %d", st)
	}
	c := s.MustDial("CP-1")
	if c.Proto != "ocpp1.6" {
		t.Fatalf("subprotocol = %q; want ocpp1.6", c.Proto)
	}
	boot(t, c)
	c.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": "2026-11-21T10:00:00Z"}, nil)
	var auth struct{ IDTagInfo idTagInfo }
	c.MustCall("Authorize", map[string]any{"idTag": "TAG-1"}, &auth)
	if auth.IDTagInfo.Status != "Accepted" {
		t.Fatalf("authorize = %+v; want Accepted", auth)
	}
	var start startConf
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "TAG-1", "meterStart": 1000, "timestamp": "2026-11-21T10:00:05Z"}, &start)
	if start.TransactionID <= 0 || start.IDTagInfo.Status != "Accepted" {
		t.Fatalf("start = %+v; want a transaction id and Accepted", start)
	}
	c.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": "2026-11-21T10:00:06Z"}, nil)
	c.MustCall("MeterValues", map[string]any{"connectorId": 1, "transactionId": start.TransactionID, "meterValue": []any{meter("2026-11-21T10:15:05Z", "3750", "11000", "40")}}, nil)
	c.MustCall("MeterValues", map[string]any{"connectorId": 1, "transactionId": start.TransactionID, "meterValue": []any{meter("2026-11-21T10:30:05Z", "6500", "10500", "55")}}, nil)

	mid := getSession(t, s, start.TransactionID)
	if mid.Status != charging.SessionActive || math.Abs(mid.KWh-5.5) > 1e-9 || mid.MaxPowerKW != 11 {
		t.Fatalf("running session = status %s kwh %v max %v; want active 5.5 kWh 11 kW", mid.Status, mid.KWh, mid.MaxPowerKW)
	}

	var stop struct{ IDTagInfo *idTagInfo }
	c.MustCall("StopTransaction", map[string]any{
		"transactionId": start.TransactionID, "idTag": "TAG-1", "meterStop": 13250, "timestamp": "2026-11-21T11:00:05Z",
		"transactionData": []any{meter("2026-11-21T11:00:05Z", "13250", "0", "80")},
	}, &stop)
	if stop.IDTagInfo == nil || stop.IDTagInfo.Status != "Accepted" {
		t.Fatalf("stop idTagInfo = %+v; want Accepted", stop.IDTagInfo)
	}
	got := getSession(t, s, start.TransactionID)
	if got.Status != charging.SessionCompleted || got.StopReason != "Local" {
		t.Fatalf("session = %s / %q; want completed / Local", got.Status, got.StopReason)
	}
	if math.Abs(got.KWh-12.25) > 1e-9 {
		t.Fatalf("kwh = %v; want 12.25", got.KWh)
	}
	if got.DurationMinutes != 60 || got.MeterStartWh != 1000 || got.MeterStopWh == nil || *got.MeterStopWh != 13250 {
		t.Fatalf("session = %+v; want 60 minutes, meter 1000..13250", got)
	}
	if len(got.Samples) != 3 || len(got.Samples[0].Values) != 5 {
		t.Fatalf("samples = %d; want all 3 meter values with 5 values each", len(got.Samples))
	}

	var ch api.Charger
	s.GetJSON("/api/v1/chargers/CP-1", &ch)
	if !ch.Connected || ch.Vendor != "Acme" || ch.FirmwareVersion != "1.2.3" {
		t.Fatalf("charger = %+v; want connected Acme 1.2.3", ch)
	}
	if len(ch.Connectors) != 1 || ch.Connectors[0].Status != charging.StatusCharging {
		t.Fatalf("connectors = %+v; want connector 1 Charging", ch.Connectors)
	}
}

func TestCallErrors(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	c := s.MustDial("CP-ERR")
	tests := []struct {
		name string
		send string
		want string // CALLERROR code; "" means no answer at all
	}{
		{"not-json-with-readable-id", `[2,"m1","Heartbeat",{`, "FormationViolation"},
		{"wrong-frame-length", `[2,"m2","Heartbeat"]`, "ProtocolError"},
		{"unknown-message-type", `[9,"m3",{}]`, "ProtocolError"},
		{"unknown-action", `[2,"m4","Teleport",{}]`, "NotImplemented"},
		{"central-system-action", `[2,"m5","Reset",{"type":"Hard"}]`, "NotSupported"},
		{"missing-required", `[2,"m6","StartTransaction",{"connectorId":1,"meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}]`, "OccurenceConstraintViolation"},
		{"wrong-type", `[2,"m7","Authorize",{"idTag":5}]`, "TypeConstraintViolation"},
		{"too-long", `[2,"m8","Authorize",{"idTag":"123456789012345678901"}]`, "PropertyConstraintViolation"},
		{"bad-enum", `[2,"m9","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Dozing"}]`, "PropertyConstraintViolation"},
		{"extra-property", `[2,"m10","Heartbeat",{"x":1}]`, "FormationViolation"},
		{"payload-not-object", `[2,"m11","Heartbeat",[]]`, "FormationViolation"},
		{"connector-zero-start", `[2,"m12","StartTransaction",{"connectorId":0,"idTag":"A","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}]`, "PropertyConstraintViolation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.SendRaw(tt.send)
			got := c.MustRead()
			if code := cbtest.ErrorCode(got); code != tt.want {
				t.Fatalf("sent %s; got %s; want CALLERROR %s", tt.send, got, tt.want)
			}
		})
	}
	t.Run("garbage-without-id-gets-no-answer-and-connection-survives", func(t *testing.T) {
		c.SendRaw(`this is not ocpp`)
		var hb struct{ CurrentTime string }
		c.MustCall("Heartbeat", map[string]any{}, &hb)
		if hb.CurrentTime == "" {
			t.Fatal("heartbeat after garbage got no time")
		}
		if !strings.Contains(s.Logs.String(), "bad OCPP-J frame") {
			t.Fatal("garbage frame was not logged")
		}
	})
}

func TestRetriedStartTransaction(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	c := s.MustDial("CP-R")
	boot(t, c)
	req := map[string]any{"connectorId": 2, "idTag": "T", "meterStart": 500, "timestamp": "2026-11-21T09:00:00Z"}
	var a, b startConf
	c.MustCall("StartTransaction", req, &a)
	c.MustCall("StartTransaction", req, &b)
	if a.TransactionID != b.TransactionID {
		t.Fatalf("retry got transaction %d; want the same %d", b.TransactionID, a.TransactionID)
	}
	var other startConf
	req["timestamp"] = "2026-11-21T09:30:00Z"
	req["connectorId"] = 1
	c.MustCall("StartTransaction", req, &other)
	if other.TransactionID == a.TransactionID {
		t.Fatalf("a different start got the same transaction %d", a.TransactionID)
	}
}

func TestStopForUnknownTransaction(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	c := s.MustDial("CP-U")
	boot(t, c)
	c.MustCall("StopTransaction", map[string]any{"transactionId": 987654, "meterStop": 100, "timestamp": "2026-11-21T09:00:00Z"}, nil)
	c.MustCall("MeterValues", map[string]any{"connectorId": 1, "transactionId": 987654, "meterValue": []any{meter("2026-11-21T09:00:00Z", "100", "0", "1")}}, nil)
	var evs struct {
		Items []struct {
			Kind    string          `json:"kind"`
			Payload json.RawMessage `json:"payload"`
		} `json:"items"`
	}
	s.GetJSON("/api/v1/chargers/CP-U/events", &evs)
	found := false
	for _, e := range evs.Items {
		if e.Kind == charging.EventUnmatchedStop && strings.Contains(string(e.Payload), "987654") {
			found = true
		}
	}
	if !found {
		t.Fatalf("events = %+v; want the unmatched StopTransaction recorded", evs.Items)
	}
}

func TestRestartMidSession(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	c := s.MustDial("CP-RS")
	boot(t, c)
	var start startConf
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-11-21T08:00:00Z"}, &start)
	c.MustCall("MeterValues", map[string]any{"connectorId": 1, "transactionId": start.TransactionID, "meterValue": []any{meter("2026-11-21T08:10:00Z", "2000", "11000", "30")}}, nil)
	c.Close()
	s.Stop()

	s2 := cbtest.StartWithDB(t, s.DBPath, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	c2 := s2.MustDial("CP-RS")
	boot(t, c2)
	mid := getSession(t, s2, start.TransactionID)
	if mid.Status != charging.SessionActive || mid.KWh != 2 || len(mid.Samples) != 1 {
		t.Fatalf("after restart = %s %v kWh %d samples; want active 2 kWh 1 sample", mid.Status, mid.KWh, len(mid.Samples))
	}
	c2.MustCall("MeterValues", map[string]any{"connectorId": 1, "transactionId": start.TransactionID, "meterValue": []any{meter("2026-11-21T08:20:00Z", "4000", "11000", "40")}}, nil)
	c2.MustCall("StopTransaction", map[string]any{"transactionId": start.TransactionID, "meterStop": 4500, "timestamp": "2026-11-21T08:25:00Z", "reason": "EVDisconnected"}, nil)
	got := getSession(t, s2, start.TransactionID)
	if got.Status != charging.SessionCompleted || got.KWh != 4.5 || len(got.Samples) != 2 {
		t.Fatalf("after stop = %s %v kWh %d samples; want completed 4.5 kWh 2 samples", got.Status, got.KWh, len(got.Samples))
	}
	var next startConf
	c2.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "T", "meterStart": 4500, "timestamp": "2026-11-21T09:00:00Z"}, &next)
	if next.TransactionID <= start.TransactionID {
		t.Fatalf("transaction id after restart = %d; want above %d", next.TransactionID, start.TransactionID)
	}
}

func TestOutOfOrderStatusNotification(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	c := s.MustDial("CP-O")
	boot(t, c)
	c.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": "2026-11-21T10:05:00Z"}, nil)
	c.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": "2026-11-21T10:00:00Z"}, nil)
	c.MustCall("StatusNotification", map[string]any{"connectorId": 0, "errorCode": "NoError", "status": "Available", "timestamp": "2026-11-21T10:00:00Z"}, nil)
	var ch api.Charger
	s.GetJSON("/api/v1/chargers/CP-O", &ch)
	statuses := map[int]charging.ConnectorStatus{}
	for _, cn := range ch.Connectors {
		statuses[cn.ConnectorID] = cn.Status
	}
	if statuses[1] != charging.StatusCharging || statuses[0] != charging.StatusAvailable {
		t.Fatalf("connector statuses = %v; want 1 Charging (the older Preparing ignored) and 0 Available", statuses)
	}
}

func TestAdmission(t *testing.T) {
	s := cbtest.Start(t)
	if _, err := s.Dial("STRANGER"); err == nil {
		t.Fatal("unknown charger connected; want it refused")
	}
	if !strings.Contains(s.Logs.String(), "chargebridge chargers add STRANGER") {
		t.Fatalf("refusal log does not say how to register:\n%s", s.Logs.String())
	}
	if _, err := s.Dial("bad%20id"); err == nil {
		t.Fatal("charger id with a space connected; want it refused")
	}
	if st := s.PostJSON("/api/v1/chargers", map[string]any{"id": "KNOWN-1"}, nil); st != http.StatusCreated {
		t.Fatalf("register: status %d", st)
	}
	if st := s.PostJSON("/api/v1/chargers", map[string]any{"id": "KNOWN-1"}, nil); st != http.StatusConflict {
		t.Fatalf("register twice: status %d; want 409", st)
	}
	if st := s.PostJSON("/api/v1/chargers", map[string]any{"id": "has space"}, nil); st != http.StatusBadRequest {
		t.Fatalf("register bad id: status %d; want 400", st)
	}
	c := s.MustDial("KNOWN-1")
	boot(t, c)
}

func TestSubprotocol(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	// An unsupported first choice is skipped (2.0.1 versus 1.6 order: TestOCPP201SideBySide).
	c, err := cbtest.DialURL(t, "ws://"+s.Addr+"/ocpp/CP-P", "ocpp2.1", "ocpp1.6")
	if err != nil {
		t.Fatal(err)
	}
	if c.Proto != "ocpp1.6" {
		t.Fatalf("negotiated %q; want ocpp1.6", c.Proto)
	}
	bad, err := cbtest.DialURL(t, "ws://"+s.Addr+"/ocpp/CP-Q", "ocpp0.9")
	if err != nil {
		t.Fatal(err)
	}
	if bad.Proto != "" {
		t.Fatalf("negotiated %q for an unsupported offer; want none", bad.Proto)
	}
	if _, err := bad.Read(2 * time.Second); err == nil {
		t.Fatal("connection with an unsupported subprotocol stayed open")
	}
}

func TestDuplicateConnection(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	first := s.MustDial("CP-D")
	boot(t, first)
	second := s.MustDial("CP-D")
	boot(t, second)
	if _, err := first.Read(2 * time.Second); err == nil {
		t.Fatal("first connection still open after the second replaced it")
	}

	r := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.RefuseDuplicates = true }))
	keep := r.MustDial("CP-D")
	boot(t, keep)
	if _, err := r.Dial("CP-D"); err == nil {
		t.Fatal("second connection accepted; want it refused")
	}
	boot(t, keep)
}

func TestTimestampWithoutZone(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	c := s.MustDial("CP-Z")
	boot(t, c)
	var start startConf
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-11-21T08:00:00"}, &start)
	got := getSession(t, s, start.TransactionID)
	if !got.StartedAt.Equal(time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("started_at = %v; want 08:00 UTC", got.StartedAt)
	}
	if !strings.Contains(s.Logs.String(), "kind=timestamp-without-zone outcome=tolerated") {
		t.Fatal("tolerated timestamp was not logged")
	}

	if st := s.PostJSON("/api/v1/chargers", map[string]any{"id": "CP-STRICT", "strict_timestamps": true}, nil); st != http.StatusCreated {
		t.Fatalf("register strict charger: %d", st)
	}
	sc := s.MustDial("CP-STRICT")
	res := sc.Call("StartTransaction", map[string]any{"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-11-21T08:00:00"})
	if code := cbtest.ErrorCode(res); code != "PropertyConstraintViolation" {
		t.Fatalf("strict charger got %s; want PropertyConstraintViolation", res)
	}
}

func TestAuthorizeStatuses(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	future := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	for _, tag := range []map[string]any{
		{"id_tag": "OK", "parent_id_tag": "FLEET", "expiry_date": future},
		{"id_tag": "BLOCKED", "status": "Blocked"},
		{"id_tag": "OLD", "expiry_date": past},
		{"id_tag": "BUSY"},
	} {
		if st := s.PostJSON("/api/v1/tags", tag, nil); st != http.StatusCreated {
			t.Fatalf("add tag %v: %d", tag, st)
		}
	}
	c := s.MustDial("CP-A")
	boot(t, c)
	var start startConf
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "BUSY", "meterStart": 0, "timestamp": "2026-11-21T08:00:00Z"}, &start)
	tests := []struct {
		tag, want, parent string
	}{
		{"OK", "Accepted", "FLEET"}, {"BLOCKED", "Blocked", ""}, {"OLD", "Expired", ""},
		{"NOBODY", "Invalid", ""}, {"BUSY", "ConcurrentTx", ""},
	}
	for _, tt := range tests {
		t.Run(strings.ToLower(tt.tag), func(t *testing.T) {
			var auth struct{ IDTagInfo idTagInfo }
			c.MustCall("Authorize", map[string]any{"idTag": tt.tag}, &auth)
			if auth.IDTagInfo.Status != tt.want || auth.IDTagInfo.ParentIDTag != tt.parent {
				t.Fatalf("authorize %s = %+v; want %s parent %q", tt.tag, auth.IDTagInfo, tt.want, tt.parent)
			}
		})
	}
	var bad startConf
	c.MustCall("StartTransaction", map[string]any{"connectorId": 2, "idTag": "BLOCKED", "meterStart": 0, "timestamp": "2026-11-21T08:05:00Z"}, &bad)
	if bad.IDTagInfo.Status != "Blocked" {
		t.Fatalf("start with blocked tag answered %+v; want Blocked", bad.IDTagInfo)
	}
	if got := getSession(t, s, bad.TransactionID); got.Status != charging.SessionInvalid {
		t.Fatalf("session with blocked tag = %s; want invalid", got.Status)
	}
}

func TestOutboundCall(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.CallTimeout = 300 * time.Millisecond }))
	ctx := context.Background()
	if _, err := s.OCPP().Call(ctx, "NOBODY", "Reset", []byte(`{"type":"Soft"}`)); !errors.Is(err, ocpp.ErrNotConnected) {
		t.Fatalf("call to absent charger: %v; want ErrNotConnected", err)
	}
	c := s.MustDial("CP-C")
	boot(t, c)
	type result struct {
		res json.RawMessage
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := s.OCPP().Call(ctx, "CP-C", "Reset", []byte(`{"type":"Soft"}`))
		done <- result{r, err}
	}()
	in := c.MustRead()
	var f []json.RawMessage
	if err := json.Unmarshal(in, &f); err != nil || string(f[0]) != "2" || string(f[2]) != `"Reset"` {
		t.Fatalf("charger got %s; want a Reset CALL", in)
	}
	var id string
	_ = json.Unmarshal(f[1], &id)
	c.SendRaw(fmt.Sprintf(`[3,%q,{"status":"Accepted"}]`, id))
	r := <-done
	if r.err != nil || string(r.res) != `{"status":"Accepted"}` {
		t.Fatalf("call = %s, %v; want Accepted", r.res, r.err)
	}

	go func() {
		r, err := s.OCPP().Call(ctx, "CP-C", "Reset", []byte(`{"type":"Hard"}`))
		done <- result{r, err}
	}()
	c.MustRead() // never answered
	if r := <-done; !errors.Is(r.err, ocpp.ErrCallTimeout) {
		t.Fatalf("unanswered call: %v; want ErrCallTimeout", r.err)
	}

	go func() {
		r, err := s.OCPP().Call(ctx, "CP-C", "UnlockConnector", []byte(`{"connectorId":1}`))
		done <- result{r, err}
	}()
	in = c.MustRead()
	_ = json.Unmarshal(in, &f)
	_ = json.Unmarshal(f[1], &id)
	c.SendRaw(fmt.Sprintf(`[4,%q,"NotSupported","no unlock here",{}]`, id))
	var oe *ocpp.Error
	if r := <-done; !errors.As(r.err, &oe) || oe.Code != ocpp.NotSupported {
		t.Fatalf("call answered with CALLERROR: %v; want *ocpp.Error NotSupported", r.err)
	}
}

func TestRetriedStopStoresTransactionDataOnce(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	c := s.MustDial("CP-RSTOP")
	boot(t, c)
	var start startConf
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-11-21T08:00:00Z"}, &start)
	stop := map[string]any{"transactionId": start.TransactionID, "meterStop": 3000, "timestamp": "2026-11-21T08:30:00Z",
		"transactionData": []any{meter("2026-11-21T08:30:00Z", "3000", "0", "50")}}
	c.MustCall("StopTransaction", stop, nil)
	c.MustCall("StopTransaction", stop, nil) // the charger missed our answer
	got := getSession(t, s, start.TransactionID)
	if got.Status != charging.SessionCompleted || got.KWh != 3 || len(got.Samples) != 1 {
		t.Fatalf("session = %s, %v kWh, %d samples; want completed, 3 kWh, the transactionData once", got.Status, got.KWh, len(got.Samples))
	}
}
