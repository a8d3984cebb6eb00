package server_test

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
)

// TestOCPP201SideBySide runs a 2.0.1 station and a 1.6 charger on one
// server (real WebSocket, real SQLite file): negotiation by the charger's
// preference, a 2.0.1 transaction becoming a canonical session with the
// right kWh (multiplier applied, a repeated seqNo not applied twice), the
// 2.0.1 CALLERROR spellings, and the session surviving a restart.
func TestOCPP201SideBySide(t *testing.T) {
	open := cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true })
	s := cbtest.Start(t, cbtest.AutoRegister, open)

	// The charger's order of preference decides.
	c16, err := cbtest.DialURL(t, s.WSURL()+"/CB16", "ocpp1.6", "ocpp2.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if c16.Proto != "ocpp1.6" {
		t.Fatalf("offered 1.6 first, got %q", c16.Proto)
	}
	st, err := cbtest.DialURL(t, s.WSURL()+"/CB201", "ocpp2.0.1", "ocpp1.6")
	if err != nil {
		t.Fatal(err)
	}
	if st.Proto != "ocpp2.0.1" {
		t.Fatalf("offered 2.0.1 first, got %q", st.Proto)
	}

	for id, want := range map[string]string{"CB16": "ocpp1.6", "CB201": "ocpp2.0.1"} {
		// The server registers a connection just after the handshake the
		// client has already seen completed.
		waitFor(t, id+" to be registered", func() bool { return s.OCPP().Connected(id) })
		var ch api.Charger
		if code := s.GetJSON("/api/v1/chargers/"+id, &ch); code != 200 || ch.Protocol != want {
			t.Errorf("GET charger %s: %d protocol %q, want %q", id, code, ch.Protocol, want)
		}
		if page := getPage(t, s, "/chargers/"+id); !strings.Contains(page, ">"+want+"<") {
			t.Errorf("charger page of %s does not show %s", id, want)
		}
	}
	var boot struct{ Status string }
	st.MustCall("BootNotification", json.RawMessage(`{"chargingStation":{"model":"M2","vendorName":"V2"},"reason":"PowerUp"}`), &boot)
	if boot.Status != "Accepted" {
		t.Fatalf("2.0.1 boot: %q", boot.Status)
	}
	answerBaseReport(t, st)
	c16.MustCall("BootNotification", map[string]string{"chargePointVendor": "V", "chargePointModel": "M"}, &boot)
	st.MustCall("StatusNotification", json.RawMessage(`{"timestamp":"2026-01-01T10:00:00Z","connectorStatus":"Occupied","evseId":1,"connectorId":1}`), nil)
	var auth struct{ IDTokenInfo struct{ Status string } }
	st.MustCall("Authorize", json.RawMessage(`{"idToken":{"idToken":"TOKEN-201","type":"ISO14443"}}`), &auth)
	if auth.IDTokenInfo.Status != "Accepted" {
		t.Fatalf("authorize: %+v", auth)
	}

	// The 1.6 session, side by side.
	var start16 struct{ TransactionID int64 }
	c16.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "TAG16", "meterStart": 100, "timestamp": "2026-01-01T10:00:00Z"}, &start16)

	ev := func(typ string, seq int, extra string) string {
		return `{"eventType":"` + typ + `","timestamp":"2026-01-01T10:0` + string(rune('0'+seq)) + `:00Z","triggerReason":"MeterValuePeriodic","seqNo":` +
			string(rune('0'+seq)) + `,"transactionInfo":{"transactionId":"TX-A1","chargingState":"Charging"}` + extra + `}`
	}
	reg := func(v string, unit string) string {
		return `,"meterValue":[{"timestamp":"2026-01-01T10:00:00Z","sampledValue":[{"value":` + v + `,"measurand":"Energy.Active.Import.Register","unitOfMeasure":` + unit + `}]}]`
	}
	var te struct{ IDTokenInfo *struct{ Status string } }
	st.MustCall("TransactionEvent", json.RawMessage(ev("Started", 0, `,"idToken":{"idToken":"TOKEN-201","type":"ISO14443"},"evse":{"id":1,"connectorId":1}`+reg("1000", `{"unit":"Wh"}`))), &te)
	if te.IDTokenInfo == nil || te.IDTokenInfo.Status != "Accepted" {
		t.Fatalf("Started: idTokenInfo %+v", te.IDTokenInfo)
	}
	updated := ev("Updated", 1, reg("2.5", `{"unit":"kWh"}`))
	st.MustCall("TransactionEvent", json.RawMessage(updated), nil)
	st.MustCall("TransactionEvent", json.RawMessage(updated), nil) // a retry: answered, not applied twice
	// 7.5 with multiplier 3 in Wh: 7500 Wh.
	st.MustCall("TransactionEvent", json.RawMessage(strings.Replace(ev("Ended", 2, reg("7.5", `{"unit":"Wh","multiplier":3}`)),
		`"chargingState":"Charging"`, `"chargingState":"Idle","stoppedReason":"EVDisconnected"`, 1)), nil)

	c16.MustCall("StopTransaction", map[string]any{"transactionId": start16.TransactionID, "meterStop": 3100, "timestamp": "2026-01-01T10:30:00Z"}, nil)

	// 2.0.1 errors are spelled the 2.0.1 way; 1.6's stay.
	if got := cbtest.ErrorCode(st.Call("TransactionEvent", json.RawMessage(`{"eventType":"Updated","timestamp":"2026-01-01T10:00:00Z","triggerReason":"Trigger","seqNo":9}`))); got != "OccurrenceConstraintViolation" {
		t.Errorf("2.0.1 missing transactionInfo: %q, want OccurrenceConstraintViolation", got)
	}
	if got := cbtest.ErrorCode(st.Call("Heartbeat", json.RawMessage(`{"x":1}`))); got != "FormatViolation" {
		t.Errorf("2.0.1 unknown property: %q, want FormatViolation", got)
	}
	if got := cbtest.ErrorCode(c16.Call("Heartbeat", json.RawMessage(`{"x":1}`))); got != "FormationViolation" {
		t.Errorf("1.6 unknown property: %q, want FormationViolation", got)
	}
	if got := cbtest.ErrorCode(st.Call("RequestStartTransaction", json.RawMessage(`{}`))); got != "NotSupported" {
		t.Errorf("CSMS message from a station: %q, want NotSupported", got)
	}
	// Notifications are answered (their fixed answers are checked against
	// the schemas in ocpp201's TestFixedAnswersValidate) and recorded.
	st.MustCall("SecurityEventNotification", json.RawMessage(`{"type":"StartupOfTheDevice","timestamp":"2026-01-01T10:00:00Z"}`), nil)
	var cert struct{ Status string }
	st.MustCall("GetCertificateStatus", json.RawMessage(`{"ocspRequestData":{"hashAlgorithm":"SHA256","issuerNameHash":"a","issuerKeyHash":"b","serialNumber":"c","responderURL":"http://x"}}`), &cert)
	if cert.Status != "Failed" {
		t.Errorf("GetCertificateStatus without a provider: %q, want Failed", cert.Status)
	}

	// Raw 2.0.1 commands: validated before sending and when answered, and
	// logged; a 1.6-only action is refused for a 2.0.1 station.
	type post struct {
		code int
		body map[string]any
	}
	done := make(chan post, 1)
	go func() {
		var out map[string]any
		code := s.PostJSON("/api/v1/chargers/CB201/commands/GetVariables", json.RawMessage(`{"getVariableData":[{"component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"}}]}`), &out)
		done <- post{code, out}
	}()
	var call []json.RawMessage
	if err := json.Unmarshal(st.MustRead(), &call); err != nil || len(call) != 4 || string(call[2]) != `"GetVariables"` {
		t.Fatalf("station got %s; want the GetVariables CALL", call)
	}
	st.SendRaw(`[3,` + string(call[1]) + `,{"getVariableResult":[{"attributeStatus":"Accepted","attributeValue":"300","component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"}}]}]`)
	if p := <-done; p.code != 200 || p.body["getVariableResult"] == nil {
		t.Errorf("raw GetVariables: %d %v", p.code, p.body)
	}
	if code := s.PostJSON("/api/v1/chargers/CB201/commands/GetVariables", json.RawMessage(`{}`), nil); code != 400 {
		t.Errorf("invalid GetVariables: %d, want 400 before anything is sent", code)
	}
	if code := s.PostJSON("/api/v1/chargers/CB201/commands/RemoteStartTransaction", json.RawMessage(`{"idTag":"X"}`), nil); code == 200 {
		t.Errorf("1.6 RemoteStartTransaction to a 2.0.1 station: %d, want refused", code)
	}
	var hist struct {
		Items []struct{ Action, Outcome string }
	}
	if code := s.GetJSON("/api/v1/chargers/CB201/commands", &hist); code != 200 || len(hist.Items) < 2 {
		t.Errorf("command log of CB201: %d %+v", code, hist)
	} else if h := hist.Items[len(hist.Items)-2]; h.Action != "GetVariables" || h.Outcome != "answered" {
		t.Errorf("second oldest logged command %+v; want GetVariables answered (after the GetBaseReport)", h)
	}

	// Neutral commands reach the station as 2.0.1 messages.
	answer := func(action, result string) json.RawMessage {
		t.Helper()
		var call []json.RawMessage
		if err := json.Unmarshal(st.MustRead(), &call); err != nil || len(call) != 4 || string(call[2]) != `"`+action+`"` {
			t.Fatalf("station got %s; want a %s CALL", call, action)
		}
		st.SendRaw(`[3,` + string(call[1]) + `,` + result + `]`)
		return call[3]
	}
	go func() {
		var out map[string]any
		code := s.PostJSON("/api/v1/chargers/CB201/actions/start", map[string]any{"connector_id": 1, "id_tag": "TOKEN-R"}, &out)
		done <- post{code, out}
	}()
	req := answer("RequestStartTransaction", `{"status":"Accepted"}`)
	if p := <-done; p.code != 200 || p.body["status"] != "accepted" || !strings.Contains(string(req), `"idToken":"TOKEN-R"`) {
		t.Errorf("neutral start: %d %v (sent %s)", p.code, p.body, req)
	}
	var remote struct {
		RemoteStartID int64 `json:"remoteStartId"`
	}
	_ = json.Unmarshal(req, &remote)
	st.MustCall("TransactionEvent", json.RawMessage(`{"eventType":"Started","timestamp":"2026-01-01T11:00:00Z","triggerReason":"RemoteStart","seqNo":0,
		"transactionInfo":{"transactionId":"TX-R","remoteStartId":`+strconv.FormatInt(remote.RemoteStartID, 10)+`},"idToken":{"idToken":"TOKEN-R","type":"Central"},"evse":{"id":1,"connectorId":1}}`), nil)
	var active struct{ Items []api.Session }
	if code := s.GetJSON("/api/v1/sessions?charger_id=CB201&status=active", &active); code != 200 || len(active.Items) != 1 {
		t.Fatalf("remote-started session: %d %+v", code, active.Items)
	}
	if got := active.Items[0].TransactionID; got != "TX-R" {
		t.Errorf("remote-started session: transaction_id %q; want the station's own TX-R", got)
	}
	go func() {
		var out map[string]any
		code := s.PostJSON("/api/v1/sessions/"+active.Items[0].ID+"/stop", nil, &out)
		done <- post{code, out}
	}()
	req = answer("RequestStopTransaction", `{"status":"Accepted"}`)
	if p := <-done; p.code != 200 || string(req) != `{"transactionId":"TX-R"}` {
		t.Errorf("neutral stop: %d %v (sent %s)", p.code, p.body, req)
	}
	st.MustCall("TransactionEvent", json.RawMessage(`{"eventType":"Ended","timestamp":"2026-01-01T11:10:00Z","triggerReason":"RemoteStop","seqNo":1,
		"transactionInfo":{"transactionId":"TX-R","stoppedReason":"Remote"}}`), nil)

	check := func(s *cbtest.Server) {
		t.Helper()
		var list struct{ Items []api.Session }
		if code := s.GetJSON("/api/v1/sessions?charger_id=CB201", &list); code != 200 || len(list.Items) != 2 {
			t.Fatalf("2.0.1 sessions: %d %+v", code, list.Items)
		}
		got := list.Items[0]
		if got.IDTag != "TOKEN-201" {
			got = list.Items[1]
		}
		if got.Status != "completed" || math.Abs(got.KWh-6.5) > 1e-9 || got.IDTag != "TOKEN-201" || got.ConnectorID != 1 {
			t.Errorf("2.0.1 session: %+v; want completed, 6.5 kWh, TOKEN-201 on 1", got)
		}
		// The API names a 2.0.1 transaction by the station's own id, a
		// 1.6 one by its number in decimal: a JSON string either way.
		if got.TransactionID != "TX-A1" {
			t.Errorf("2.0.1 session: transaction_id %q; want the station's TX-A1", got.TransactionID)
		}
		var raw struct {
			Items []map[string]json.RawMessage `json:"items"`
		}
		if code := s.GetJSON("/api/v1/sessions?charger_id=CB16", &raw); code != 200 || len(raw.Items) != 1 ||
			string(raw.Items[0]["transaction_id"]) != `"`+strconv.FormatInt(start16.TransactionID, 10)+`"` {
			t.Errorf("1.6 session JSON: %d %+v; want transaction_id \"%d\"", code, raw.Items, start16.TransactionID)
		}
		var one api.Session
		if code := s.GetJSON("/api/v1/sessions/"+got.ID, &one); code != 200 || len(one.Samples) != 3 {
			t.Errorf("2.0.1 session telemetry: %d, %d samples; want 3 (Started, Updated once, Ended)", code, len(one.Samples))
		}
		if code := s.GetJSON("/api/v1/sessions?charger_id=CB16", &list); code != 200 || len(list.Items) != 1 || math.Abs(list.Items[0].KWh-3) > 1e-9 {
			t.Errorf("1.6 session: %d %+v; want 3 kWh", code, list.Items)
		}
	}
	check(s)
	st.Close()
	c16.Close()
	s.Stop()
	check(cbtest.StartWithDB(t, s.DBPath, cbtest.AutoRegister, open))
}

// answerBaseReport answers the GetBaseReport a 2.0.1 station gets once its
// first boot is accepted: it does not support reports.
func answerBaseReport(t *testing.T, st *cbtest.Client) {
	t.Helper()
	var call []json.RawMessage
	if err := json.Unmarshal(st.MustRead(), &call); err != nil || len(call) != 4 || string(call[2]) != `"GetBaseReport"` || !strings.Contains(string(call[3]), `"FullInventory"`) {
		t.Fatalf("after its first boot the station got %s; want GetBaseReport FullInventory", call)
	}
	st.SendRaw(`[3,` + string(call[1]) + `,{"status":"NotSupported"}]`)
}

// TestTransactionIDsPerCharger: two 2.0.1 stations each run a transaction
// "1"; each becomes its own session with transaction_id "1", and what one
// station reports for its "1" (meter values, the end) never reaches the
// other's.
func TestTransactionIDsPerCharger(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	stations := map[string]*cbtest.Client{}
	for _, id := range []string{"TXA", "TXB"} {
		st, err := cbtest.DialURL(t, s.WSURL()+"/"+id, "ocpp2.0.1")
		if err != nil {
			t.Fatal(err)
		}
		st.MustCall("BootNotification", json.RawMessage(`{"chargingStation":{"model":"M2","vendorName":"V2"},"reason":"PowerUp"}`), nil)
		answerBaseReport(t, st)
		st.MustCall("TransactionEvent", json.RawMessage(`{"eventType":"Started","timestamp":"2026-01-01T10:00:00Z","triggerReason":"Authorized","seqNo":0,
			"transactionInfo":{"transactionId":"1","chargingState":"Charging"},"idToken":{"idToken":"TOK-`+id+`","type":"ISO14443"},"evse":{"id":1,"connectorId":1},
			"meterValue":[{"timestamp":"2026-01-01T10:00:00Z","sampledValue":[{"value":1000,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}}]}]}`), nil)
		stations[id] = st
	}
	// A's transaction "1" goes on and ends at 5 kWh; B's is left alone.
	a := stations["TXA"]
	a.MustCall("TransactionEvent", json.RawMessage(`{"eventType":"Updated","timestamp":"2026-01-01T10:10:00Z","triggerReason":"MeterValuePeriodic","seqNo":1,
		"transactionInfo":{"transactionId":"1","chargingState":"Charging"},
		"meterValue":[{"timestamp":"2026-01-01T10:10:00Z","sampledValue":[{"value":4000,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}}]}]}`), nil)
	a.MustCall("TransactionEvent", json.RawMessage(`{"eventType":"Ended","timestamp":"2026-01-01T10:20:00Z","triggerReason":"EVDeparted","seqNo":2,
		"transactionInfo":{"transactionId":"1","chargingState":"Idle","stoppedReason":"EVDisconnected"},
		"meterValue":[{"timestamp":"2026-01-01T10:20:00Z","sampledValue":[{"value":6000,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}}]}]}`), nil)
	for id, want := range map[string]struct {
		status string
		kwh    float64
	}{"TXA": {"completed", 5}, "TXB": {"active", 0}} {
		var list struct{ Items []api.Session }
		if code := s.GetJSON("/api/v1/sessions?charger_id="+id, &list); code != 200 || len(list.Items) != 1 {
			t.Fatalf("sessions of %s: %d %+v; want one", id, code, list.Items)
		}
		got := list.Items[0]
		if got.TransactionID != "1" || string(got.Status) != want.status || math.Abs(got.KWh-want.kwh) > 1e-9 || got.IDTag != "TOK-"+id {
			t.Errorf("session of %s: transaction %q %s %v kWh tag %s; want transaction \"1\" %s %v kWh tag TOK-%s",
				id, got.TransactionID, got.Status, got.KWh, got.IDTag, want.status, want.kwh, id)
		}
	}
}
