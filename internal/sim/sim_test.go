package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// logWriter sends the chargers' warnings to the test log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testConfig is a fast charger: milliseconds where real ones take minutes,
// and a battery that charges 10 minutes per wall-clock second. Sessions end
// on time, before the driver's energy is in, so that faults strike while
// charging even on a loaded machine.
func testConfig(t testing.TB, url string) Config {
	return Config{
		URL:           url,
		Connectors:    1,
		MeterInterval: 20 * time.Millisecond,
		SessionLength: DurationRange{600 * time.Millisecond, 800 * time.Millisecond},
		Energy:        KWhRange{Min: 20, Max: 30},
		IdleTime:      DurationRange{10 * time.Millisecond, 30 * time.Millisecond},
		FinishingTime: DurationRange{10 * time.Millisecond, 20 * time.Millisecond},
		StopReasons:   []StopReasonWeight{{"Local", 1}},
		TimeScale:     600,
		IntervalUnit:  10 * time.Millisecond,
		StepTime:      10 * time.Millisecond,
		RebootTime:    20 * time.Millisecond,
		ReconnectMin:  10 * time.Millisecond,
		ReconnectMax:  40 * time.Millisecond,
		CallTimeout:   3 * time.Second,
		Seed:          42,
		Logger:        slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// checkNoLeaks fails the test if a goroutine of a charger or fleet is still
// there shortly after Run returned.
func checkNoLeaks(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "internal/sim.(*Charger)") || strings.Contains(g, "internal/sim.(*Fleet)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines left after Run returned; first:\n%s", len(leaked), leaked[0])
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// value returns the sampled value of a measurand in a meter value.
func value(mv meterValue, measurand string) (float64, bool) {
	for _, sv := range mv.SampledValue {
		if sv.Measurand == measurand {
			f, err := strconv.ParseFloat(sv.Value, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// statusesOf returns the statuses reported for a connector, in order, without
// repeats.
func statusesOf(calls []gotCall, connector int) []string {
	var out []string
	for _, g := range calls {
		if g.Action != "StatusNotification" {
			continue
		}
		var r statusNotificationReq
		json.Unmarshal(g.Payload, &r)
		if r.ConnectorID == connector && (len(out) == 0 || out[len(out)-1] != r.Status) {
			out = append(out, r.Status)
		}
	}
	return out
}

func TestSessionArrivesInOrder(t *testing.T) {
	cs := startCSMS(t)
	cfg := testConfig(t, cs.URL)
	c := runCharger(t, cfg, "CP-ORDER")

	// Wait for the first session to end and its connector to be free again.
	var calls []gotCall
	cs.waitFor(t, "a complete session", func() bool {
		calls = cs.got(c.ID())
		st := statusesOf(calls, 1)
		return slices.Index(st, "Finishing") >= 0 && st[len(st)-1] == "Available" && len(cs.gotAction(c.ID(), "StopTransaction")) > 0
	})
	cs.checkValid(t)

	if calls[0].Action != "BootNotification" {
		t.Fatalf("first call: got %s; want BootNotification", calls[0].Action)
	}
	if got := statusesOf(calls, 0); len(got) == 0 || got[0] != "Available" {
		t.Errorf("connector 0 statuses: got %v; want Available first", got)
	}
	// The first session: up to the connector's second Available.
	for i, avail := range calls {
		var r statusNotificationReq
		json.Unmarshal(avail.Payload, &r)
		if i > 3 && avail.Action == "StatusNotification" && r.ConnectorID == 1 && r.Status == "Available" {
			calls = calls[:i+1]
			break
		}
	}
	want := []string{"Available", "Preparing", "Charging", "Finishing", "Available"}
	if got := statusesOf(calls, 1); !slices.Equal(got, want) {
		t.Errorf("connector 1 statuses: got %v; want %v", got, want)
	}
	stop := slices.IndexFunc(calls, func(g gotCall) bool { return g.Action == "StopTransaction" })
	calls = calls[:stop+1]

	var order []string
	for _, g := range calls {
		if g.Action != "StatusNotification" && g.Action != "Heartbeat" && (len(order) == 0 || order[len(order)-1] != g.Action) {
			order = append(order, g.Action)
		}
	}
	if want := []string{"BootNotification", "Authorize", "StartTransaction", "MeterValues", "StopTransaction"}; !slices.Equal(order, want) {
		t.Fatalf("call order: got %v; want %v", order, want)
	}

	var start startTransactionReq
	var startAt int
	for i, g := range calls {
		if g.Action == "StartTransaction" {
			g.decode(t, &start)
			startAt = i
		}
	}
	tx := cs.txOf(c.ID(), start)
	if !slices.Contains(cfg.IDTags, start.IDTag) && !slices.Contains(defaultIDTags, start.IDTag) {
		t.Errorf("StartTransaction idTag %q is none of the configured tags", start.IDTag)
	}

	last := float64(start.MeterStart)
	lastSoC := 0.0
	meters := 0
	for _, g := range calls[startAt+1:] {
		if g.Action != "MeterValues" {
			continue
		}
		meters++
		var mv meterValuesReq
		g.decode(t, &mv)
		if mv.TransactionID == nil || *mv.TransactionID != tx {
			t.Fatalf("MeterValues transactionId: got %v; want %d", mv.TransactionID, tx)
		}
		v := mv.MeterValue[0]
		reg, ok := value(v, "Energy.Active.Import.Register")
		if !ok || reg < last {
			t.Fatalf("energy register went from %v to %v", last, reg)
		}
		last = reg
		p, _ := value(v, "Power.Active.Import")
		if p < 0 || p > 50_000*1.01 {
			t.Errorf("power %v W is outside 0..50 kW", p)
		}
		volts, _ := value(v, "Voltage")
		amps, _ := value(v, "Current.Import")
		if volts < 300 || volts > 450 || (p > 0 && (amps*volts < p*0.9 || amps*volts > p*1.1)) {
			t.Errorf("implausible %v V, %v A for %v W", volts, amps, p)
		}
		soc, _ := value(v, "SoC")
		if soc < lastSoC || soc > 100 {
			t.Errorf("SoC went from %v to %v", lastSoC, soc)
		}
		lastSoC = soc
	}
	if meters < 3 {
		t.Errorf("got %d MeterValues; want several", meters)
		for _, g := range calls {
			t.Logf("%s %s %.300s", g.At.Format("05.000"), g.Action, g.Payload)
		}
	}
	var stopReq stopTransactionReq
	calls[len(calls)-1].decode(t, &stopReq)
	if stopReq.TransactionID != tx || float64(stopReq.MeterStop) < last || stopReq.Reason != "Local" {
		t.Errorf("StopTransaction: got tx %d, meterStop %d, reason %q; want tx %d, meterStop >= %v, reason Local",
			stopReq.TransactionID, stopReq.MeterStop, stopReq.Reason, tx, last)
	}
	// The energy fits the power and the (simulated) time charged: between
	// a fifth of the charger's 50 kW (the EV takes at least 40 kW, less
	// during the ramp) and all of it.
	kwh := float64(stopReq.MeterStop-start.MeterStart) / 1000
	t0, _ := time.Parse(time.RFC3339, start.Timestamp)
	t1, _ := time.Parse(time.RFC3339, stopReq.Timestamp)
	simHours := t1.Sub(t0).Hours() * cfg.TimeScale
	if kwh <= 0 || kwh > 50*simHours*1.01 || kwh < 50*simHours*0.2 || kwh > cfg.Energy.Max {
		t.Errorf("session delivered %.3f kWh in %.2f simulated hours; want up to 50 kW and at most %v kWh", kwh, simHours, cfg.Energy.Max)
	}
	if len(stopReq.TransactionData) != 2 {
		t.Fatalf("transactionData: got %d meter values; want Transaction.Begin and Transaction.End", len(stopReq.TransactionData))
	}
	begin, end := stopReq.TransactionData[0], stopReq.TransactionData[1]
	if begin.SampledValue[0].Context != "Transaction.Begin" || end.SampledValue[0].Context != "Transaction.End" {
		t.Errorf("transactionData contexts: got %s, %s", begin.SampledValue[0].Context, end.SampledValue[0].Context)
	}
	if b, _ := value(begin, "Energy.Active.Import.Register"); int64(b) != start.MeterStart {
		t.Errorf("Transaction.Begin register: got %v; want meterStart %d", b, start.MeterStart)
	}
	if e, _ := value(end, "Energy.Active.Import.Register"); int64(e) != stopReq.MeterStop {
		t.Errorf("Transaction.End register: got %v; want meterStop %d", e, stopReq.MeterStop)
	}
	st := c.Stats()
	if st.SessionsStarted < 1 || st.SessionsCompleted < 1 || st.EnergyKWh < kwh-0.01 || st.Errors != 0 {
		t.Errorf("stats: got %+v; want a completed session, >= %.3f kWh and no errors", st, kwh)
	}
}

func TestQueuedMessagesReplayInOrder(t *testing.T) {
	cs := startCSMS(t)
	cfg := testConfig(t, cs.URL)
	cfg.NoAutoStart = true
	cfg.SessionLength = DurationRange{400 * time.Millisecond, 400 * time.Millisecond}
	cfg.Energy = KWhRange{Min: 90, Max: 90}
	cfg.TimeScale = 60
	c := runCharger(t, cfg, "CP-OFFLINE")
	cs.waitFor(t, "registration", func() bool { return len(cs.gotAction(c.ID(), "StatusNotification")) >= 2 })

	// The central system goes away; the session starts offline.
	cs.setRefuse(true)
	cs.kick(c.ID())
	cs.waitFor(t, "the charger to notice", func() bool { return c.Stats().Connected == 0 })
	before := len(cs.got(c.ID()))
	if err := c.StartSession(1, "04OFFLINE01"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	back := time.Now()
	cs.setRefuse(false)
	cs.waitFor(t, "the StopTransaction", func() bool { return len(cs.gotAction(c.ID(), "StopTransaction")) > 0 })
	cs.checkValid(t)

	calls := cs.got(c.ID())[before:]
	var txs []gotCall
	for _, g := range calls {
		switch g.Action {
		case "StartTransaction", "MeterValues", "StopTransaction":
			txs = append(txs, g)
		case "Authorize":
			t.Errorf("Authorize sent for a session authorized offline")
		}
	}
	if txs[0].Action != "StartTransaction" || txs[len(txs)-1].Action != "StopTransaction" {
		t.Fatalf("transaction messages: first %s, last %s; want StartTransaction first, StopTransaction last", txs[0].Action, txs[len(txs)-1].Action)
	}
	var start startTransactionReq
	txs[0].decode(t, &start)
	tx := cs.txOf(c.ID(), start)
	lastReg, lastTS := float64(start.MeterStart), start.Timestamp
	replayed := 0
	for _, g := range txs[1 : len(txs)-1] {
		if g.Action != "MeterValues" {
			t.Fatalf("got %s between StartTransaction and StopTransaction", g.Action)
		}
		var mv meterValuesReq
		g.decode(t, &mv)
		if mv.TransactionID == nil || *mv.TransactionID != tx {
			t.Fatalf("MeterValues transactionId: got %v; want %d, the id the replayed StartTransaction got", mv.TransactionID, tx)
		}
		reg, _ := value(mv.MeterValue[0], "Energy.Active.Import.Register")
		ts := mv.MeterValue[0].Timestamp
		if reg < lastReg || ts < lastTS {
			t.Fatalf("MeterValues out of order: register %v after %v, time %s after %s", reg, lastReg, ts, lastTS)
		}
		lastReg, lastTS = reg, ts
		if sampled, _ := time.Parse(time.RFC3339, ts); sampled.Before(back) {
			replayed++
		}
	}
	if replayed < 2 {
		t.Errorf("got %d MeterValues sampled while offline; want several replayed", replayed)
	}
	var stop stopTransactionReq
	txs[len(txs)-1].decode(t, &stop)
	if stop.TransactionID != tx {
		t.Errorf("StopTransaction transactionId: got %d; want %d", stop.TransactionID, tx)
	}
	if st := c.Stats(); st.DialErrors == 0 || st.Connects < 2 {
		t.Errorf("stats: got %+v; want failed dials and a reconnect", st)
	}
}

func TestRetriedStartGetsSameTransactionID(t *testing.T) {
	for _, tc := range []struct {
		name           string
		noDedupe       bool
		wantMismatches int64
	}{
		{name: "same-id", wantMismatches: 0},
		{name: "server-gives-new-id", noDedupe: true, wantMismatches: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := startCSMS(t)
			cs.mu.Lock()
			cs.noDedupe = tc.noDedupe
			cs.mu.Unlock()
			cfg := testConfig(t, cs.URL)
			cfg.NoAutoStart = true
			cfg.Faults.RetryStart = 1
			c := runCharger(t, cfg, "CP-RETRY")
			cs.waitFor(t, "registration", func() bool { return len(cs.gotAction(c.ID(), "StatusNotification")) >= 2 })
			if err := c.StartSession(1, "04RETRY0001"); err != nil {
				t.Fatal(err)
			}
			cs.waitFor(t, "two StartTransactions and a MeterValues", func() bool {
				return len(cs.gotAction(c.ID(), "StartTransaction")) == 2 && len(cs.gotAction(c.ID(), "MeterValues")) > 0
			})
			starts := cs.gotAction(c.ID(), "StartTransaction")
			if string(starts[0].Payload) != string(starts[1].Payload) {
				t.Errorf("retried StartTransaction differs:\n%s\n%s", starts[0].Payload, starts[1].Payload)
			}
			if got := c.Stats().RetryMismatches; got != tc.wantMismatches {
				t.Errorf("RetryMismatches: got %d; want %d", got, tc.wantMismatches)
			}
			cs.checkValid(t)
		})
	}
}

func TestBootPendingIsRetriedAtTheGivenInterval(t *testing.T) {
	cs := startCSMS(t)
	cs.mu.Lock()
	cs.pending["CP-PENDING"] = 2
	cs.mu.Unlock()
	c := runCharger(t, testConfig(t, cs.URL), "CP-PENDING")
	cs.waitFor(t, "registration", func() bool { return len(cs.gotAction(c.ID(), "StatusNotification")) >= 2 })
	calls := cs.got(c.ID())
	for i := range 3 {
		if calls[i].Action != "BootNotification" {
			t.Fatalf("call %d: got %s; want BootNotification (nothing else before it is accepted)", i, calls[i].Action)
		}
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < 10*time.Millisecond {
		t.Errorf("boot retried after %v; want at least the 1-unit interval (10ms)", gap)
	}
}

func TestCommands(t *testing.T) {
	cs := startCSMS(t)
	cfg := testConfig(t, cs.URL)
	cfg.Connectors = 2
	cfg.NoAutoStart = true
	cfg.SessionLength = DurationRange{time.Minute, time.Minute}
	cfg.Energy = KWhRange{Min: 60, Max: 60}
	cfg.TimeScale = 1
	cfg.MeterInterval = 50 * time.Millisecond
	c := runCharger(t, cfg, "CP-CMD")
	id := c.ID()
	cs.waitFor(t, "registration", func() bool { return len(cs.gotAction(id, "StatusNotification")) >= 3 })

	// newCalls returns what arrived since mark.
	mark := 0
	since := func() []gotCall { return cs.got(id)[mark:] }
	waitAction := func(t *testing.T, action string, match func(gotCall) bool) gotCall {
		t.Helper()
		var found gotCall
		cs.waitFor(t, action, func() bool {
			for _, g := range since() {
				if g.Action == action && (match == nil || match(g)) {
					found = g
					return true
				}
			}
			return false
		})
		return found
	}
	statusIs := func(connector int, status string) func(gotCall) bool {
		return func(g gotCall) bool {
			var r statusNotificationReq
			json.Unmarshal(g.Payload, &r)
			return r.ConnectorID == connector && r.Status == status
		}
	}
	reset := func() { mark = len(cs.got(id)) }

	t.Run("get-configuration", func(t *testing.T) {
		f := cs.call(t, id, "GetConfiguration", map[string]any{})
		var conf getConfigurationConf
		json.Unmarshal(f.Payload, &conf)
		keys := map[string]configurationKey{}
		for _, k := range conf.ConfigurationKey {
			keys[k.Key] = k
		}
		for _, k := range []string{"HeartbeatInterval", "MeterValueSampleInterval", "MeterValuesSampledData", "NumberOfConnectors", "SupportedFeatureProfiles"} {
			if _, ok := keys[k]; !ok {
				t.Errorf("GetConfiguration lacks %s", k)
			}
		}
		if k := keys["NumberOfConnectors"]; !k.Readonly || *k.Value != "2" {
			t.Errorf("NumberOfConnectors: got %+v; want readonly 2", k)
		}
		if k := keys["HeartbeatInterval"]; *k.Value != "3600" {
			t.Errorf("HeartbeatInterval: got %s; want 3600 (from BootNotification)", *k.Value)
		}
		f = cs.call(t, id, "GetConfiguration", map[string]any{"key": []string{"HeartbeatInterval", "NoSuchKey"}})
		conf = getConfigurationConf{}
		json.Unmarshal(f.Payload, &conf)
		if len(conf.ConfigurationKey) != 1 || !slices.Equal(conf.UnknownKey, []string{"NoSuchKey"}) {
			t.Errorf("GetConfiguration by key: got %s", f.Payload)
		}
	})

	t.Run("change-configuration", func(t *testing.T) {
		for _, tc := range []struct{ key, value, want string }{
			{"NumberOfConnectors", "4", "Rejected"},
			{"NoSuchKey", "1", "NotSupported"},
			{"MeterValueSampleInterval", "soon", "Rejected"},
			{"MeterValuesSampledData", "Energy.Active.Import.Register,Nonsense", "Rejected"},
			{"MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import,SoC,Voltage,Current.Import", "Accepted"},
			{"LocalAuthorizeOffline", "TRUE", "Accepted"},
		} {
			if got := cs.status(t, id, "ChangeConfiguration", map[string]string{"key": tc.key, "value": tc.value}); got != tc.want {
				t.Errorf("ChangeConfiguration %s=%s: got %s; want %s", tc.key, tc.value, got, tc.want)
			}
		}
		reset()
		if got := cs.status(t, id, "ChangeConfiguration", map[string]string{"key": "HeartbeatInterval", "value": "2"}); got != "Accepted" {
			t.Fatalf("ChangeConfiguration HeartbeatInterval: got %s", got)
		}
		waitAction(t, "Heartbeat", nil)
	})

	t.Run("simple-answers", func(t *testing.T) {
		if got := cs.status(t, id, "ClearCache", map[string]any{}); got != "Accepted" {
			t.Errorf("ClearCache: got %s", got)
		}
		if got := cs.status(t, id, "DataTransfer", map[string]any{"vendorId": "com.example"}); got != "UnknownVendorId" {
			t.Errorf("DataTransfer: got %s; want UnknownVendorId", got)
		}
		f := cs.callInvalid(t, id, "FlyToTheMoon", map[string]any{})
		if f.Type != ocpp.CallError || f.ErrorCode != ocpp.NotImplemented {
			t.Errorf("unknown action: got type %d code %s; want CALLERROR NotImplemented", f.Type, f.ErrorCode)
		}
		f = cs.callInvalid(t, id, "UnlockConnector", map[string]any{"connectorId": "one"})
		if f.Type != ocpp.CallError || f.ErrorCode != ocpp.TypeConstraintViolation {
			t.Errorf("UnlockConnector with a string id: got type %d code %s; want CALLERROR TypeConstraintViolation", f.Type, f.ErrorCode)
		}
		if got := cs.status(t, id, "UnlockConnector", map[string]any{"connectorId": 7}); got != "NotSupported" {
			t.Errorf("UnlockConnector 7: got %s; want NotSupported", got)
		}
		if got := cs.status(t, id, "RemoteStopTransaction", map[string]any{"transactionId": 999999}); got != "Rejected" {
			t.Errorf("RemoteStopTransaction of an unknown transaction: got %s; want Rejected", got)
		}
		if got := cs.status(t, id, "CancelReservation", map[string]any{"reservationId": 4242}); got != "Rejected" {
			t.Errorf("CancelReservation of an unknown reservation: got %s; want Rejected", got)
		}
		if got := cs.status(t, id, "ReserveNow", map[string]any{"connectorId": 0, "expiryDate": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "idTag": "X", "reservationId": 1}); got != "Rejected" {
			t.Errorf("ReserveNow on connector 0: got %s; want Rejected", got)
		}
	})

	t.Run("trigger-message", func(t *testing.T) {
		reset()
		if got := cs.status(t, id, "TriggerMessage", map[string]any{"requestedMessage": "StatusNotification", "connectorId": 2}); got != "Accepted" {
			t.Fatalf("TriggerMessage StatusNotification: got %s", got)
		}
		waitAction(t, "StatusNotification", statusIs(2, "Available"))
		for _, m := range []string{"Heartbeat", "MeterValues", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "BootNotification"} {
			if got := cs.status(t, id, "TriggerMessage", map[string]any{"requestedMessage": m}); got != "Accepted" {
				t.Fatalf("TriggerMessage %s: got %s", m, got)
			}
			waitAction(t, m, nil)
		}
		if got := cs.status(t, id, "TriggerMessage", map[string]any{"requestedMessage": "Heartbeat", "connectorId": 9}); got != "Rejected" {
			t.Errorf("TriggerMessage for connector 9: got %s; want Rejected", got)
		}
		for _, m := range []string{"LogStatusNotification", "SignChargePointCertificate", "FirmwareStatusNotification"} {
			if got := cs.status(t, id, "ExtendedTriggerMessage", map[string]any{"requestedMessage": m}); got != "Accepted" {
				t.Fatalf("ExtendedTriggerMessage %s: got %s", m, got)
			}
		}
		csr := waitAction(t, "SignCertificate", nil)
		var r signCertificateReq
		csr.decode(t, &r)
		if b, _ := pem.Decode([]byte(r.CSR)); b == nil || b.Type != "CERTIFICATE REQUEST" {
			t.Errorf("SignCertificate csr is not a PEM CSR: %q", r.CSR)
		}
		waitAction(t, "LogStatusNotification", nil)
		waitAction(t, "SignedFirmwareStatusNotification", nil)
	})

	var tx1 int
	t.Run("remote-start-and-stop", func(t *testing.T) {
		reset()
		if got := cs.status(t, id, "RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "REMOTE1"}); got != "Accepted" {
			t.Fatalf("RemoteStartTransaction: got %s", got)
		}
		start := waitAction(t, "StartTransaction", nil)
		var r startTransactionReq
		start.decode(t, &r)
		if r.IDTag != "REMOTE1" || r.ConnectorID != 1 {
			t.Errorf("StartTransaction: got %s; want idTag REMOTE1 on connector 1", start.Payload)
		}
		if got := cs.status(t, id, "RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "REMOTE2"}); got != "Rejected" {
			t.Errorf("RemoteStartTransaction on a busy connector: got %s; want Rejected", got)
		}
		waitAction(t, "MeterValues", nil)
		tx1 = cs.txOf(id, r)
		if got := cs.status(t, id, "ChangeAvailability", map[string]any{"connectorId": 1, "type": "Inoperative"}); got != "Scheduled" {
			t.Errorf("ChangeAvailability of a charging connector: got %s; want Scheduled", got)
		}
		if got := cs.status(t, id, "RemoteStopTransaction", map[string]any{"transactionId": tx1}); got != "Accepted" {
			t.Fatalf("RemoteStopTransaction: got %s", got)
		}
		stop := waitAction(t, "StopTransaction", nil)
		var s stopTransactionReq
		stop.decode(t, &s)
		if s.TransactionID != tx1 || s.Reason != "Remote" {
			t.Errorf("StopTransaction: got tx %d reason %s; want tx %d reason Remote", s.TransactionID, s.Reason, tx1)
		}
		waitAction(t, "StatusNotification", statusIs(1, "Unavailable")) // the scheduled change, once free
		if got := cs.status(t, id, "ChangeAvailability", map[string]any{"connectorId": 1, "type": "Operative"}); got != "Accepted" {
			t.Errorf("ChangeAvailability Operative: got %s", got)
		}
		waitAction(t, "StatusNotification", statusIs(1, "Available"))
	})

	t.Run("blocked-tags", func(t *testing.T) {
		reset()
		if err := c.StartSession(1, "BLOCKED1"); err != nil {
			t.Fatal(err)
		}
		waitAction(t, "Authorize", nil)
		waitAction(t, "StatusNotification", statusIs(1, "Available"))
		if slices.ContainsFunc(since(), func(g gotCall) bool { return g.Action == "StartTransaction" }) {
			t.Errorf("StartTransaction sent for a tag the central system blocked")
		}
		// A remote start skips Authorize; the central system refuses the
		// tag in its StartTransaction answer, and the charger stops.
		reset()
		if got := cs.status(t, id, "RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "BLOCKED2"}); got != "Accepted" {
			t.Fatalf("RemoteStartTransaction: got %s", got)
		}
		stop := waitAction(t, "StopTransaction", nil)
		var s stopTransactionReq
		stop.decode(t, &s)
		if s.Reason != "DeAuthorized" {
			t.Errorf("StopTransaction reason: got %s; want DeAuthorized", s.Reason)
		}
		waitAction(t, "StatusNotification", statusIs(1, "Available"))
	})

	t.Run("reservation", func(t *testing.T) {
		reset()
		expiry := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if got := cs.status(t, id, "ReserveNow", map[string]any{"connectorId": 2, "expiryDate": expiry, "idTag": "RES1", "reservationId": 7}); got != "Accepted" {
			t.Fatalf("ReserveNow: got %s", got)
		}
		waitAction(t, "StatusNotification", statusIs(2, "Reserved"))
		if got := cs.status(t, id, "RemoteStartTransaction", map[string]any{"connectorId": 2, "idTag": "SOMEONE"}); got != "Rejected" {
			t.Errorf("RemoteStartTransaction on a connector reserved for another tag: got %s; want Rejected", got)
		}
		if got := cs.status(t, id, "RemoteStartTransaction", map[string]any{"connectorId": 2, "idTag": "RES1"}); got != "Accepted" {
			t.Fatalf("RemoteStartTransaction for the reservation's tag: got %s", got)
		}
		start := waitAction(t, "StartTransaction", nil)
		var r startTransactionReq
		start.decode(t, &r)
		if r.ReservationID == nil || *r.ReservationID != 7 {
			t.Errorf("StartTransaction reservationId: got %v; want 7", r.ReservationID)
		}
	})

	t.Run("unlock-stops-the-transaction", func(t *testing.T) {
		reset()
		if got := cs.status(t, id, "UnlockConnector", map[string]any{"connectorId": 2}); got != "Unlocked" {
			t.Fatalf("UnlockConnector: got %s", got)
		}
		stop := waitAction(t, "StopTransaction", nil)
		var s stopTransactionReq
		stop.decode(t, &s)
		if s.Reason != "UnlockCommand" {
			t.Errorf("StopTransaction reason: got %s; want UnlockCommand", s.Reason)
		}
		waitAction(t, "StatusNotification", statusIs(2, "Available"))
	})

	t.Run("local-list", func(t *testing.T) {
		list := map[string]any{"listVersion": 3, "updateType": "Full", "localAuthorizationList": []any{
			map[string]any{"idTag": "04AAAA", "idTagInfo": map[string]any{"status": "Accepted"}},
			map[string]any{"idTag": "04BBBB", "idTagInfo": map[string]any{"status": "Blocked"}},
		}}
		if got := cs.status(t, id, "SendLocalList", list); got != "Accepted" {
			t.Fatalf("SendLocalList: got %s", got)
		}
		f := cs.call(t, id, "GetLocalListVersion", map[string]any{})
		var v getLocalListVersionConf
		json.Unmarshal(f.Payload, &v)
		if v.ListVersion != 3 {
			t.Errorf("GetLocalListVersion: got %d; want 3", v.ListVersion)
		}
		if got := cs.status(t, id, "SendLocalList", map[string]any{"listVersion": 2, "updateType": "Differential"}); got != "VersionMismatch" {
			t.Errorf("SendLocalList with an older differential: got %s; want VersionMismatch", got)
		}
	})

	t.Run("smart-charging", func(t *testing.T) {
		profile := map[string]any{"connectorId": 0, "csChargingProfiles": map[string]any{
			"chargingProfileId": 11, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative",
			"chargingSchedule": map[string]any{"chargingRateUnit": "W", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 11000.0}}},
		}}
		if got := cs.status(t, id, "SetChargingProfile", profile); got != "Accepted" {
			t.Fatalf("SetChargingProfile: got %s", got)
		}
		f := cs.call(t, id, "GetCompositeSchedule", map[string]any{"connectorId": 1, "duration": 3600})
		var conf getCompositeScheduleConf
		json.Unmarshal(f.Payload, &conf)
		if conf.Status != "Accepted" || conf.ChargingSchedule == nil || conf.ChargingSchedule.ChargingSchedulePeriod[0].Limit != 11000 {
			t.Errorf("GetCompositeSchedule: got %s; want an 11000 W limit", f.Payload)
		}
		f = cs.call(t, id, "GetCompositeSchedule", map[string]any{"connectorId": 1, "duration": 600, "chargingRateUnit": "A"})
		conf = getCompositeScheduleConf{}
		json.Unmarshal(f.Payload, &conf)
		if conf.Status != "Accepted" || conf.ChargingSchedule.ChargingSchedulePeriod[0].Limit != 15.9 {
			t.Errorf("GetCompositeSchedule in A: got %s; want 15.9 A", f.Payload)
		}
		bad := map[string]any{"connectorId": 1, "csChargingProfiles": map[string]any{
			"chargingProfileId": 12, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile", "chargingProfileKind": "Absolute",
			"chargingSchedule": map[string]any{"startSchedule": time.Now().UTC().Format(time.RFC3339), "chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16.0}}},
		}}
		if got := cs.status(t, id, "SetChargingProfile", bad); got != "Rejected" {
			t.Errorf("SetChargingProfile ChargePointMaxProfile on connector 1: got %s; want Rejected", got)
		}
		if got := cs.status(t, id, "ClearChargingProfile", map[string]any{"id": 11}); got != "Accepted" {
			t.Errorf("ClearChargingProfile: got %s", got)
		}
		if got := cs.status(t, id, "ClearChargingProfile", map[string]any{"id": 11}); got != "Unknown" {
			t.Errorf("ClearChargingProfile again: got %s; want Unknown", got)
		}
	})

	t.Run("certificates", func(t *testing.T) {
		cert := selfSigned(t)
		if got := cs.status(t, id, "InstallCertificate", map[string]any{"certificateType": "CentralSystemRootCertificate", "certificate": cert}); got != "Accepted" {
			t.Fatalf("InstallCertificate: got %s", got)
		}
		if got := cs.status(t, id, "InstallCertificate", map[string]any{"certificateType": "CentralSystemRootCertificate", "certificate": "not a certificate"}); got != "Rejected" {
			t.Errorf("InstallCertificate of garbage: got %s; want Rejected", got)
		}
		f := cs.call(t, id, "GetInstalledCertificateIds", map[string]any{"certificateType": "CentralSystemRootCertificate"})
		var ids getInstalledCertificateIDsConf
		json.Unmarshal(f.Payload, &ids)
		if ids.Status != "Accepted" || len(ids.CertificateHashData) != 1 {
			t.Fatalf("GetInstalledCertificateIds: got %s", f.Payload)
		}
		if got := cs.status(t, id, "GetInstalledCertificateIds", map[string]any{"certificateType": "ManufacturerRootCertificate"}); got != "NotFound" {
			t.Errorf("GetInstalledCertificateIds of another type: got %s; want NotFound", got)
		}
		del := map[string]any{"certificateHashData": ids.CertificateHashData[0]}
		if got := cs.status(t, id, "DeleteCertificate", del); got != "Accepted" {
			t.Errorf("DeleteCertificate: got %s", got)
		}
		if got := cs.status(t, id, "DeleteCertificate", del); got != "NotFound" {
			t.Errorf("DeleteCertificate again: got %s; want NotFound", got)
		}
		if got := cs.status(t, id, "CertificateSigned", map[string]any{"certificateChain": "junk"}); got != "Rejected" {
			t.Errorf("CertificateSigned of junk: got %s; want Rejected", got)
		}
		if got := cs.status(t, id, "CertificateSigned", map[string]any{"certificateChain": cert}); got != "Accepted" {
			t.Errorf("CertificateSigned: got %s", got)
		}
	})

	t.Run("diagnostics-and-logs", func(t *testing.T) {
		reset()
		f := cs.call(t, id, "GetDiagnostics", map[string]any{"location": "ftp://diag.example.com/upload"})
		var d getDiagnosticsConf
		json.Unmarshal(f.Payload, &d)
		if d.FileName == "" {
			t.Errorf("GetDiagnostics: got %s; want a fileName", f.Payload)
		}
		waitAction(t, "DiagnosticsStatusNotification", func(g gotCall) bool { return strings.Contains(string(g.Payload), "Uploaded") })
		if got := cs.status(t, id, "GetLog", map[string]any{"logType": "SecurityLog", "requestId": 5, "log": map[string]any{"remoteLocation": "https://logs.example.com/up"}}); got != "Accepted" {
			t.Errorf("GetLog: got %s", got)
		}
		waitAction(t, "LogStatusNotification", func(g gotCall) bool { return strings.Contains(string(g.Payload), `"Uploaded"`) })
	})

	t.Run("firmware", func(t *testing.T) {
		reset()
		if got := cs.status(t, id, "SignedUpdateFirmware", map[string]any{"requestId": 9, "firmware": map[string]any{
			"location": "https://fw.example.com/fw.bin", "retrieveDateTime": time.Now().UTC().Format(time.RFC3339),
			"signingCertificate": "junk", "signature": "c2ln"}}); got != "InvalidCertificate" {
			t.Errorf("SignedUpdateFirmware with a bad certificate: got %s; want InvalidCertificate", got)
		}
		waitAction(t, "SecurityEventNotification", nil)
		f := cs.call(t, id, "UpdateFirmware", map[string]any{"location": "https://fw.example.com/fw.bin", "retrieveDate": time.Now().UTC().Format(time.RFC3339)})
		if f.Type != ocpp.CallResult {
			t.Fatalf("UpdateFirmware: got %s", f.ErrorCode)
		}
		boot := waitAction(t, "BootNotification", nil)
		var b bootNotificationReq
		boot.decode(t, &b)
		if b.FirmwareVersion != "1.4.3" {
			t.Errorf("firmware after the update: got %s; want 1.4.3", b.FirmwareVersion)
		}
		waitAction(t, "FirmwareStatusNotification", func(g gotCall) bool { return strings.Contains(string(g.Payload), "Installed") })
		var seq []string
		for _, g := range since() {
			if g.Action == "FirmwareStatusNotification" {
				var r statusOnly
				g.decode(t, &r)
				seq = append(seq, r.Status)
			}
		}
		if want := []string{"Downloading", "Downloaded", "Installing", "Installed"}; !slices.Equal(seq, want) {
			t.Errorf("firmware statuses: got %v; want %v", seq, want)
		}
	})

	t.Run("soft-reset-stops-transactions", func(t *testing.T) {
		reset()
		cs.waitFor(t, "the charger to be back", func() bool { return cs.connected(id) })
		if got := cs.status(t, id, "RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "SOFT1"}); got != "Accepted" {
			t.Fatalf("RemoteStartTransaction: got %s", got)
		}
		waitAction(t, "MeterValues", nil)
		if got := cs.status(t, id, "Reset", map[string]any{"type": "Soft"}); got != "Accepted" {
			t.Fatalf("Reset: got %s", got)
		}
		waitAction(t, "BootNotification", nil)
		calls := since()
		stop := slices.IndexFunc(calls, func(g gotCall) bool { return g.Action == "StopTransaction" })
		boot := slices.IndexFunc(calls, func(g gotCall) bool { return g.Action == "BootNotification" })
		if stop < 0 || stop > boot || !strings.Contains(string(calls[stop].Payload), `"SoftReset"`) {
			t.Errorf("soft reset: want StopTransaction with reason SoftReset before the BootNotification; got %d, %d", stop, boot)
		}
	})

	t.Run("hard-reset-forgets-transactions", func(t *testing.T) {
		cs.waitFor(t, "registration", func() bool {
			return slices.ContainsFunc(since(), func(g gotCall) bool { return g.Action == "StatusNotification" })
		})
		reset()
		if got := cs.status(t, id, "RemoteStartTransaction", map[string]any{"connectorId": 2, "idTag": "HARD1"}); got != "Accepted" {
			t.Fatalf("RemoteStartTransaction: got %s", got)
		}
		waitAction(t, "MeterValues", nil)
		if got := cs.status(t, id, "Reset", map[string]any{"type": "Hard"}); got != "Accepted" {
			t.Fatalf("Reset: got %s", got)
		}
		waitAction(t, "BootNotification", nil)
		waitAction(t, "StatusNotification", statusIs(2, "Available"))
		for _, g := range since() {
			if g.Action == "StopTransaction" {
				t.Errorf("hard reset sent a StopTransaction: %s", g.Payload)
			}
		}
	})

	cs.checkValid(t)
}

// selfSigned returns a PEM self-signed CA certificate.
func selfSigned(t testing.TB) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(0x5eed),
		Subject:               pkix.Name{CommonName: "Test CSMS Root"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestFaults(t *testing.T) {
	t.Run("naive-timestamps", func(t *testing.T) {
		cs := startCSMS(t)
		cfg := testConfig(t, cs.URL)
		cfg.Faults.NaiveTimestamps = 1
		c := runCharger(t, cfg, "CP-NAIVE")
		cs.waitFor(t, "a status", func() bool { return len(cs.gotAction(c.ID(), "StatusNotification")) > 0 })
		var r statusNotificationReq
		cs.gotAction(c.ID(), "StatusNotification")[0].decode(t, &r)
		if _, err := time.Parse("2006-01-02T15:04:05", r.Timestamp); err != nil {
			t.Errorf("timestamp %q: want one without a zone", r.Timestamp)
		}
	})

	t.Run("malformed-frame", func(t *testing.T) {
		cs := startCSMS(t)
		cs.mu.Lock()
		cs.hbInterval = 2
		cs.mu.Unlock()
		cfg := testConfig(t, cs.URL)
		cfg.NoAutoStart = true
		cfg.Faults.MalformedFrame = 1
		c := runCharger(t, cfg, "CP-MALFORMED")
		cs.waitFor(t, "two malformed heartbeats", func() bool {
			cs.mu.Lock()
			defer cs.mu.Unlock()
			return len(cs.bad) >= 2
		})
		cs.mu.Lock()
		bad := cs.bad[0]
		cs.mu.Unlock()
		if !strings.Contains(bad, `"Heartbeat"`) {
			t.Errorf("bad frame: got %s; want a truncated Heartbeat", bad)
		}
		if st := c.Stats(); st.Connects != 1 || st.CallErrors != 0 {
			t.Errorf("stats: got %+v; want one connection and no call errors (the CALLERRORs were expected)", st)
		}
	})

	t.Run("reboot-mid-transaction", func(t *testing.T) {
		cs := startCSMS(t)
		cfg := testConfig(t, cs.URL)
		cfg.Faults.RebootMidTransaction = 1
		c := runCharger(t, cfg, "CP-REBOOT")
		cs.waitFor(t, "a second boot", func() bool { return len(cs.gotAction(c.ID(), "BootNotification")) >= 2 })
		calls := cs.got(c.ID())
		boot2 := 1 + slices.IndexFunc(calls[1:], func(g gotCall) bool { return g.Action == "BootNotification" })
		for _, g := range calls[:boot2] {
			if g.Action == "StopTransaction" {
				t.Errorf("StopTransaction before the reboot: %s", g.Payload)
			}
		}
		if !slices.ContainsFunc(calls[:boot2], func(g gotCall) bool { return g.Action == "StartTransaction" }) {
			t.Errorf("no transaction before the reboot")
		}
		cs.checkValid(t)
	})

	t.Run("drop-connection", func(t *testing.T) {
		cs := startCSMS(t)
		cfg := testConfig(t, cs.URL)
		cfg.Faults.DropConnection = 1
		c := runCharger(t, cfg, "CP-DROP")
		cs.waitFor(t, "a StopTransaction", func() bool { return len(cs.gotAction(c.ID(), "StopTransaction")) > 0 })
		if st := c.Stats(); st.Connects < 2 {
			t.Errorf("connects: got %d; want a reconnect", st.Connects)
		}
		if n := len(cs.gotAction(c.ID(), "BootNotification")); n != 1 {
			t.Errorf("BootNotifications: got %d; want 1 (a reconnect is no reboot)", n)
		}
		var start startTransactionReq
		cs.gotAction(c.ID(), "StartTransaction")[0].decode(t, &start)
		var stop stopTransactionReq
		cs.gotAction(c.ID(), "StopTransaction")[0].decode(t, &stop)
		tx := cs.txOf(c.ID(), start)
		if stop.TransactionID != tx {
			t.Errorf("StopTransaction after the drop: got tx %d; want %d", stop.TransactionID, tx)
		}
		cs.checkValid(t)
	})
}

// fixedClock always tells the same time.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func TestClockStampsMessages(t *testing.T) {
	cs := startCSMS(t)
	cfg := testConfig(t, cs.URL)
	cfg.NoAutoStart = true
	cfg.Clock = fixedClock{time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	c := runCharger(t, cfg, "CP-CLOCK")
	cs.waitFor(t, "a status", func() bool { return len(cs.gotAction(c.ID(), "StatusNotification")) > 0 })
	var r statusNotificationReq
	cs.gotAction(c.ID(), "StatusNotification")[0].decode(t, &r)
	if r.Timestamp != "2030-01-02T03:04:05.000Z" {
		t.Errorf("timestamp: got %s; want the clock's 2030-01-02T03:04:05.000Z", r.Timestamp)
	}
}

func TestPayloadsMatchSchemas(t *testing.T) {
	if loadSchemas(t) == nil {
		t.Skipf("OCPP 1.6 schemas not found at %s (relative to internal/sim); check out the shared specs beside the repository to run this test", schemaDir)
	}
	cs := startCSMS(t)
	cfg := testConfig(t, cs.URL)
	cfg.Connectors = 2
	cfg.StopReasons = nil // the default mix
	cfg.Faults.RetryStart = 0.3
	cfg.Faults.DropConnection = 0.2
	cfg.Faults.GoOffline = 0.2
	cfg.Faults.OfflineTime = DurationRange{20 * time.Millisecond, 60 * time.Millisecond}
	cfg.Faults.RebootMidTransaction = 0.1
	f, err := NewFleet(cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		checkNoLeaks(t)
	}()
	id := f.Chargers()[0].ID()
	all := "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC,Power.Offered,Temperature"
	cs.status(t, id, "ChangeConfiguration", map[string]string{"key": "MeterValuesSampledData", "value": all})
	cs.waitFor(t, "12 completed sessions", func() bool { return f.Stats().SessionsCompleted >= 12 })
	for _, m := range []string{"BootNotification", "Heartbeat", "MeterValues", "StatusNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification"} {
		cs.status(t, id, "TriggerMessage", map[string]any{"requestedMessage": m})
	}
	for _, m := range []string{"LogStatusNotification", "SignChargePointCertificate", "FirmwareStatusNotification"} {
		cs.status(t, id, "ExtendedTriggerMessage", map[string]any{"requestedMessage": m})
	}
	cs.status(t, id, "ChangeConfiguration", map[string]string{"key": "StopTxnSampledData", "value": "Energy.Active.Import.Register,Temperature,Power.Offered"})
	cs.waitFor(t, "triggered messages", func() bool { return len(cs.gotAction(id, "SignCertificate")) > 0 })
	cs.call(t, id, "GetCompositeSchedule", map[string]any{"connectorId": 0, "duration": 86400})
	cs.call(t, id, "GetConfiguration", map[string]any{})
	cs.checkValid(t)
	if st := f.Stats(); st.RetryMismatches != 0 || st.CallErrors != 0 {
		t.Errorf("stats: got %+v; want no mismatches and no call errors", st)
	}
}

func TestSaturation(t *testing.T) {
	cs := startCSMS(t)
	cfg := testConfig(t, cs.URL)
	cfg.Saturate = true
	cfg.Latency = &Histogram{}
	f, err := NewFleet(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	cs.waitFor(t, "300 answered calls", func() bool { return cfg.Latency.Count() >= 300 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkNoLeaks(t)
	st := f.Stats()
	if n := cfg.Latency.Count(); uint64(st.CallsSent) < n || st.Errors != 0 {
		t.Errorf("stats: got %+v with %d latencies; want calls >= latencies and no errors", st, n)
	}
	if p50, p999 := cfg.Latency.Quantile(0.5), cfg.Latency.Quantile(0.999); p50 <= 0 || p50 > p999 || p999 > cfg.Latency.Max() {
		t.Errorf("latency quantiles: p50 %v, p99.9 %v, max %v", p50, p999, cfg.Latency.Max())
	}
	for _, c := range f.Chargers() {
		for _, g := range cs.gotAction(c.ID(), "MeterValues") {
			var mv meterValuesReq
			g.decode(t, &mv)
			if mv.TransactionID == nil {
				t.Fatalf("saturation MeterValues without a transaction: %s", g.Payload)
			}
		}
	}
	cs.checkValid(t)
}

func TestDialsFromLocalAddr(t *testing.T) {
	src := netip.MustParseAddr("127.0.0.2")
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: src.AsSlice()})
	if err != nil {
		t.Skipf("cannot use %s as a source address here: %v", src, err)
	}
	ln.Close()
	cs := startCSMS(t)
	cfg := testConfig(t, cs.URL)
	cfg.LocalAddrs = []netip.Addr{src}
	c := runCharger(t, cfg, "CP-SRC")
	cs.waitFor(t, "a connection", func() bool { return cs.connected(c.ID()) })
	cs.mu.Lock()
	addr := cs.remoteAddrs[c.ID()]
	cs.mu.Unlock()
	if !strings.HasPrefix(addr, "127.0.0.2:") {
		t.Errorf("remote address: got %s; want 127.0.0.2:*", addr)
	}
}

func TestFleetStopsWithoutLeaks(t *testing.T) {
	cs := startCSMS(t)
	cfg := testConfig(t, cs.URL)
	cfg.Connectors = 2
	cfg.MaxDialing = 2
	cfg.Faults = Faults{DropConnection: 0.3, GoOffline: 0.3, RebootMidTransaction: 0.2, OfflineTime: DurationRange{10 * time.Millisecond, 50 * time.Millisecond}}
	f, err := NewFleet(cfg, 20)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	cs.waitFor(t, "20 connected chargers", func() bool { return f.Stats().Connects >= 20 })
	cs.waitFor(t, "some sessions", func() bool { return f.Stats().SessionsStarted >= 20 })
	cs.setRefuse(true) // some chargers are now waiting to redial
	time.Sleep(30 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := f.Stats(); st.Connected != 0 {
		t.Errorf("connected after Run returned: got %d; want 0", st.Connected)
	}
	checkNoLeaks(t)
	if err := f.Run(context.Background()); err == nil {
		t.Errorf("second Run: got nil; want an error")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "no-url", cfg: Config{}, want: "URL is required"},
		{name: "http-url", cfg: Config{URL: "http://x/ocpp"}, want: "ws:// or wss://"},
		{name: "bad-probability", cfg: Config{URL: "ws://x/ocpp", Faults: Faults{GoOffline: 2}}, want: "Faults.GoOffline"},
		{name: "bad-reason", cfg: Config{URL: "ws://x/ocpp", StopReasons: []StopReasonWeight{{"Bored", 1}}}, want: `"Bored"`},
		{name: "long-tag", cfg: Config{URL: "ws://x/ocpp", IDTags: []string{strings.Repeat("A", 21)}}, want: "IDTags"},
		{name: "bad-range", cfg: Config{URL: "ws://x/ocpp", SessionLength: DurationRange{time.Hour, time.Minute}}, want: "SessionLength"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewCharger(tc.cfg, "CP")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v; want an error mentioning %s", err, tc.want)
			}
		})
	}
	if _, err := NewCharger(Config{URL: "ws://127.0.0.1:1/ocpp"}, "CP"); err != nil {
		t.Errorf("defaults: got %v; want a valid config", err)
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {0.999, 999 * time.Millisecond}} {
		got := h.Quantile(tc.q)
		if d := float64(got-tc.want) / float64(tc.want); d < -0.07 || d > 0.07 {
			t.Errorf("Quantile(%v): got %v; want %v within 7%%", tc.q, got, tc.want)
		}
	}
	if h.Count() != 1000 || h.Max() != time.Second || h.Mean() != 500500*time.Microsecond {
		t.Errorf("got count %d, max %v, mean %v; want 1000, 1s, 500.5ms", h.Count(), h.Max(), h.Mean())
	}

	var other Histogram
	other.Record(2 * time.Second)
	h.Merge(&other)
	if h.Count() != 1001 || h.Max() != 2*time.Second {
		t.Errorf("after Merge: got count %d, max %v; want 1001, 2s", h.Count(), h.Max())
	}

	data, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var a, b Histogram
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	a.Merge(&b)
	if a.Count() != 2002 || a.Quantile(0.5) != h.Quantile(0.5) {
		t.Errorf("decoded and merged twice: got count %d, p50 %v; want 2002, %v", a.Count(), a.Quantile(0.5), h.Quantile(0.5))
	}
	if err := json.Unmarshal([]byte(`{"count":5,"buckets":[[1,2]]}`), &a); err == nil {
		t.Errorf("inconsistent histogram decoded without error")
	}

	for i := range histBuckets {
		lo, hi := histBounds(i)
		if histIndex(lo) != i || histIndex(hi) != i {
			t.Fatalf("bucket %d: bounds %d..%d map to %d..%d", i, lo, hi, histIndex(lo), histIndex(hi))
		}
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 {
		t.Errorf("empty histogram p50: got %v; want 0", empty.Quantile(0.5))
	}
}
