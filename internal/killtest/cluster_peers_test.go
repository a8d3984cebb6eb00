package killtest

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/beckn/signing"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
	"github.com/chargebridge/chargebridge/internal/sim"
	"github.com/chargebridge/chargebridge/internal/store/postgres"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

const bppID = "bpp.chargebridge.test"

// TestKillANodeOfThreeWithPeers runs three chargebridge nodes on one
// PostgreSQL database joined by NATS, with a simulated fleet charging, a
// registered OCPI eMSP and a Beckn BAP whose orders charge on other
// simulated chargers, kills one node with SIGKILL mid-session, lets its
// chargers reconnect to the others and finishes the sessions. Then every
// acknowledged stop is a session stored once, the eMSP has every session
// in its final state and every CDR POSTed exactly once, and the BAP has
// every callback it is owed, each under one message id.
//
// In "outbox-holder" the node killed is the one delivering the eMSP's
// queue, killed while the eMSP holds the answer to a CDR it has stored (the
// worst moment: the CDR reached the eMSP, its sender never learns it); in
// "other" it is a node that does not hold the queue then.
func TestKillANodeOfThreeWithPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills chargebridge processes; skipped with -short")
	}
	bin := cbtest.BuildBinary(t)
	for _, victim := range []string{"outbox-holder", "other"} {
		t.Run(victim, func(t *testing.T) { killWithPeers(t, bin, victim == "outbox-holder") })
	}
}

func killWithPeers(t *testing.T, bin string, killHolder bool) {
	dsn := pgtest.Schema(t)
	ns := natstest.Start(t)
	dir := t.TempDir()
	bppKeys, err := signing.GenerateKeyFile(filepath.Join(dir, "bpp.json"), bppID, "bpp-key-1")
	if err != nil {
		t.Fatal(err)
	}
	bapKeys, err := signing.GenerateKeyFile(filepath.Join(dir, "bap.json"), "bap.example.test", "bap-key-1")
	if err != nil {
		t.Fatal(err)
	}
	subs := fmt.Sprintf(`[{"subscriber_id":"bap.example.test","unique_key_id":"bap-key-1","signing_public_key":%q}]`, bapKeys.PublicKeyBase64())
	if err := os.WriteFile(filepath.Join(dir, "baps.json"), []byte(subs), 0o600); err != nil {
		t.Fatal(err)
	}
	bppRes, err := signing.NewStaticResolver([]signing.Subscriber{{SubscriberID: bppID, UniqueKeyID: "bpp-key-1", SigningPublicKey: bppKeys.PublicKeyBase64()}})
	if err != nil {
		t.Fatal(err)
	}

	// The eMSP gets its token A from the operator (the CLI, on the
	// database) before the nodes start.
	out, err := exec.Command(bin, "ocpi", "parties", "add", "--db", dsn, "--country", "DE", "--party", "EMS").CombinedOutput()
	m := regexp.MustCompile(`token_a: (\S+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("ocpi parties add: %v\n%s", err, out)
	}
	tokenA := string(m[1])

	var nodes []*cbtest.Process
	var urls []string
	for i := range 3 {
		id := fmt.Sprintf("n%d", i+1)
		p := cbtest.StartServe(t, bin, id, "", "--db", dsn, "--nats", ns.URL(), "--node-id", id,
			"--auto-register", "--accept-unknown-tags", "--log-level", "warn",
			"--beckn-key-file", filepath.Join(dir, "bpp.json"), "--beckn-subscribers", filepath.Join(dir, "baps.json"))
		nodes = append(nodes, p)
		urls = append(urls, p.WSURL())
	}
	for _, p := range nodes {
		p.WaitReady(t)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range nodes {
				t.Logf("%s's log:\n%s", p.Name, p.Out)
			}
		}
	})
	emsp := newEMSP(t)
	emsp.register(nodes[0].Base, tokenA)
	bap := newBAP(t, bapKeys, bppRes)

	const chargers = 6
	fleet, err := sim.NewFleet(sim.Config{
		URL: strings.Join(urls, ","), IDPrefix: "KP-", Connectors: 1, MaxPowerKW: 50,
		MeterInterval: 20 * time.Millisecond, SessionLength: sim.DurationRange{Min: 300 * time.Millisecond, Max: 500 * time.Millisecond},
		Energy: sim.KWhRange{Min: 20, Max: 30}, IdleTime: sim.DurationRange{Min: 10 * time.Millisecond, Max: 30 * time.Millisecond},
		FinishingTime: sim.DurationRange{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}, TimeScale: 600,
		IntervalUnit: 10 * time.Millisecond, StepTime: 10 * time.Millisecond, RebootTime: 20 * time.Millisecond,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, CallTimeout: 3 * time.Second, Seed: 17,
		StopReasons: []sim.StopReasonWeight{{Reason: "Local", Weight: 1}},
	}, chargers)
	if err != nil {
		t.Fatal(err)
	}
	// The Beckn chargers start only what the BAP orders.
	var bk []*sim.Charger
	for i := range 3 {
		cp, err := sim.NewCharger(sim.Config{
			URL: strings.Join(urls, ","), Protocol: "1.6", Connectors: 1, NoAutoStart: true, TimeScale: 60, MaxPowerKW: 22,
			Energy:        sim.KWhRange{Min: 500, Max: 500}, // charges until stopped: the test ends each order
			MeterInterval: 100 * time.Millisecond, StepTime: time.Minute, RebootTime: 300 * time.Millisecond,
			ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, CallTimeout: 10 * time.Second, // a loaded machine answers late; a start retried is not what this tests
		}, fmt.Sprintf("BK-%d", i+1))
		if err != nil {
			t.Fatal(err)
		}
		bk = append(bk, cp)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1+len(bk))
	go func() { done <- fleet.Run(ctx) }()
	for _, cp := range bk {
		go func() { done <- cp.Run(ctx) }()
	}
	stopped := false
	stopSims := func() {
		cancel()
		for range 1 + len(bk) {
			if err := <-done; err != nil {
				t.Errorf("simulator: %v", err)
			}
		}
		stopped = true
	}
	defer func() {
		if !stopped {
			stopSims()
		}
	}()

	held := func(p *cbtest.Process) map[string]int {
		var st api.ClusterStatus
		p.GetJSON(t, "/api/v1/cluster", &st)
		out := map[string]int{}
		for _, n := range st.Nodes {
			out[n.ID] = n.Chargers
		}
		return out
	}
	total := chargers + len(bk)
	waitUntil(t, "every charger connected, all three nodes holding some", 30*time.Second, func() bool {
		h := held(nodes[1])
		return h["n1"] > 0 && h["n2"] > 0 && h["n3"] > 0 && h["n1"]+h["n2"]+h["n3"] == total
	})

	// Beckn orders: each Beckn charger gets an order, confirmed and
	// started through the node its number names (before the kill, so
	// every answer comes before it).
	type order struct {
		id, tx, item string
		cp           *sim.Charger
	}
	var orders []order
	for i, cp := range bk {
		bpp := nodes[i%3].Base + "/beckn"
		o := order{tx: charging.NewID(), item: cp.ID() + "-1", cp: cp}
		in := bap.answer(bap.send(bpp, "init", o.tx, map[string]any{"order": map[string]any{"@type": "beckn:Order", "beckn:orderStatus": "CREATED",
			"beckn:buyer": buyer(), "beckn:orderItems": orderItems(o.item), "beckn:payment": payment("INITIATED")}}))
		o.id, _ = get(in.Msg, "order", "beckn:id").(string)
		if o.id == "" {
			t.Fatalf("on_init without an order id: %v", in.Msg)
		}
		bap.answer(bap.send(bpp, "confirm", o.tx, map[string]any{"order": map[string]any{"@type": "beckn:Order", "beckn:id": o.id,
			"beckn:orderStatus": "PENDING", "beckn:buyer": buyer(), "beckn:orderItems": orderItems(o.item),
			"beckn:payment": payment("COMPLETED"), "beckn:orderAttributes": map[string]any{"@type": "ChargingSession",
				"preferences": map[string]any{"startTime": time.Now().UTC().Add(time.Minute).Format(time.RFC3339), "endTime": time.Now().UTC().Add(time.Hour).Format(time.RFC3339)}}}}))
		in = bap.answer(bap.send(bpp, "update", o.tx, updateMsg(o.id, "PENDING")))
		if st := get(in.Msg, "order", "beckn:fulfillment", "beckn:deliveryAttributes", "sessionStatus"); st != "ACTIVE" {
			t.Logf("order %s on %s: the start's on_update says sessionStatus %v: %v", o.id, cp.ID(), st, in.Msg)
		}
		orders = append(orders, o)
	}
	// The first order ends at the charger before the kill.
	bkState := ""
	waitUntil(t, "BK-1 charging", 30*time.Second, func() bool {
		if orders[0].cp.Charging(1) {
			return true
		}
		var ss struct {
			Items []api.Session `json:"items"`
		}
		nodes[0].GetJSON(t, "/api/v1/sessions?charger_id=BK-1", &ss)
		if len(ss.Items) > 0 {
			// What BK-1's session is while the simulator does not charge
			// (each state once), should this time out.
			if now := fmt.Sprintf("session %s %s tx %q", ss.Items[0].ID, ss.Items[0].Status, ss.Items[0].TransactionID); now != bkState {
				bkState = now
				t.Logf("BK-1 not charging yet: %s, simulator %+v", now, orders[0].cp.Stats())
			}
		}
		return false
	})
	if err := orders[0].cp.StopSession(1, "Local"); err != nil {
		t.Fatal(err)
	}

	// Pick the node to kill.
	var victim int
	if killHolder {
		// The next CDR is held (the earlier ones taught the CPO the
		// eMSP's CDR URLs), and its sender killed at once.
		emsp.holdNext()
		var cdr string
		select {
		case cdr = <-emsp.held:
		case <-time.After(60 * time.Second):
			t.Fatalf("the eMSP got no third CDR in 60s (fleet %+v)", fleet.Stats())
		}
		holder := outboxHolder(t, dsn, "DE-EMS")
		victim = -1
		for i := range nodes {
			if strings.HasPrefix(holder, fmt.Sprintf("ocpi-n%d-", i+1)) {
				victim = i
			}
		}
		if victim < 0 {
			t.Fatalf("the eMSP's queue is held by %q while its CDR %s is being POSTed; want a node's", holder, cdr)
		}
	} else {
		waitUntil(t, "some sessions completed", 30*time.Second, func() bool { return fleet.Stats().SessionsCompleted >= chargers })
		holder := outboxHolder(t, dsn, "DE-EMS")
		victim = 2
		if strings.HasPrefix(holder, "ocpi-n3-") {
			victim = 1
		}
	}
	before := held(nodes[(victim+1)%3])
	nodes[victim].Kill(t)
	emsp.unhold()
	survivors := []*cbtest.Process{nodes[(victim+1)%3], nodes[(victim+2)%3]}
	t.Logf("killed %s holding %d of %d chargers, %d sessions completed so far", nodes[victim].Name, before[nodes[victim].Name], total, fleet.Stats().SessionsCompleted)

	waitUntil(t, "the killed node's chargers held by the others", time.Minute, func() bool {
		h := held(survivors[0])
		return h[survivors[0].Name]+h[survivors[1].Name] == total
	})
	after := fleet.Stats().SessionsCompleted
	waitUntil(t, "charging to go on", 30*time.Second, func() bool { return fleet.Stats().SessionsCompleted >= after+chargers })

	// The second order is stopped by the BAP, the third at the charger,
	// through the survivors.
	bap.answer(bap.send(survivors[0].Base+"/beckn", "update", orders[1].tx, updateMsg(orders[1].id, "STOP")))
	waitUntil(t, "BK-3 charging", 30*time.Second, func() bool { return orders[2].cp.Charging(1) })
	if err := orders[2].cp.StopSession(1, "Local"); err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		waitUntil(t, "order "+o.id+" completed (on_update COMPLETED)", time.Minute, func() bool {
			for _, in := range bap.callbacks() {
				if in.Action == "on_update" && in.Ctx.TransactionID == o.tx && get(in.Msg, "order", "beckn:orderStatus") == "COMPLETED" {
					return true
				}
			}
			return false
		})
	}
	stopSims()
	st := fleet.Stats()
	if st.CallErrors != 0 || st.RetryMismatches != 0 {
		t.Errorf("fleet %+v; want no CALLERROR and no retried start answered with another transaction", st)
	}

	// Every acknowledged stop is a completed session, stored once.
	sessions := survivors[0].Sessions(t)
	completed, seen := 0, map[string]bool{}
	for _, s := range sessions {
		key := s.ChargerID + "/" + s.TransactionID
		if s.TransactionID != "" && seen[key] {
			t.Errorf("transaction %s stored twice", key)
		}
		seen[key] = true
		if s.MeterStopWh != nil && strings.HasPrefix(s.ChargerID, "KP-") {
			completed++
		}
	}
	if n := int64(completed); n < st.SessionsCompleted || n > st.SessionsCompleted+chargers {
		t.Errorf("%d completed sessions stored; the fleet had %d StopTransactions acknowledged (and at most %d in flight)", completed, st.SessionsCompleted, chargers)
	}

	// The eMSP: every session, in its final state, and every CDR once.
	waitUntil(t, "every completed session's CDR at the eMSP", 90*time.Second, func() bool {
		got := emsp.cdrCounts()
		for _, s := range sessions {
			if s.Status == "completed" && s.TransactionID != "" && got[s.ID] == 0 {
				return false
			}
		}
		return true
	})
	// The queue drained: no copy is left to arrive late.
	waitUntil(t, "the eMSP's queue empty", 60*time.Second, func() bool { return outboxDepth(t, dsn, "DE-EMS") == 0 })
	cdrs := emsp.cdrCounts()
	byID := map[string]api.Session{}
	for _, s := range sessions {
		byID[s.ID] = s
	}
	for id, n := range cdrs {
		if n != 1 {
			t.Errorf("CDR %s POSTed %d times; want once", id, n)
		}
		if _, ok := byID[id]; !ok {
			t.Errorf("CDR %s is of no stored session", id)
		}
	}
	for _, s := range sessions {
		if s.Status != "completed" || s.TransactionID == "" {
			continue
		}
		if cdrs[s.ID] == 0 {
			t.Errorf("session %s completed; the eMSP has no CDR", s.ID)
		}
		got := emsp.session(s.ID)
		if got == nil {
			t.Errorf("session %s was never PUT to the eMSP", s.ID)
			continue
		}
		kwh, _ := got["kwh"].(float64)
		if got["status"] != "COMPLETED" || math.Abs(kwh-math.Round(s.KWh*1000)/1000) > 1e-9 {
			t.Errorf("session %s at the eMSP: status %v, %v kWh; want COMPLETED, %.3f kWh", s.ID, got["status"], got["kwh"], s.KWh)
		}
	}
	t.Logf("%d sessions stored, %d CDRs at the eMSP", len(sessions), len(cdrs))

	// The BAP: its callbacks, each under one message id, and each logical
	// callback once (no second message id for it).
	byMsg := map[string]callback{}
	logical := map[string][]string{}
	for _, in := range bap.callbacks() {
		if prev, ok := byMsg[in.Ctx.MessageID]; ok {
			if prev.Action != in.Action || prev.Ctx.TransactionID != in.Ctx.TransactionID {
				t.Errorf("message id %s came as %s and as %s", in.Ctx.MessageID, prev.Action, in.Action)
			}
			continue
		}
		byMsg[in.Ctx.MessageID] = in
		status, _ := get(in.Msg, "order", "beckn:orderStatus").(string)
		k := in.Ctx.TransactionID + " " + in.Action + " " + status
		logical[k] = append(logical[k], in.Ctx.MessageID)
	}
	for _, o := range orders {
		for _, want := range []string{"on_init", "on_confirm", "on_update COMPLETED"} {
			found := 0
			for k, ids := range logical {
				if strings.HasPrefix(k, o.tx+" ") && strings.HasPrefix(strings.TrimPrefix(k, o.tx+" "), want) {
					found += len(ids)
				}
			}
			if found != 1 {
				t.Errorf("order %s: %d %s callbacks (distinct message ids); want 1", o.id, found, want)
			}
		}
	}
	for _, p := range survivors {
		p.Stop(t)
	}
}

// outboxHolder returns the holder of a party's outbox lease ("" when none).
func outboxHolder(t *testing.T, dsn, party string) string {
	t.Helper()
	var holder string
	withDB(t, dsn, func(c *pgx.Conn) error {
		err := c.QueryRow(context.Background(), `SELECT holder FROM leases WHERE name = $1 AND expires_at > now()`, "ocpi outbox "+party).Scan(&holder)
		if err == pgx.ErrNoRows {
			return nil
		}
		return err
	})
	return holder
}

// outboxDepth returns how many pushes to a party wait.
func outboxDepth(t *testing.T, dsn, party string) int {
	t.Helper()
	st, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, n, err := st.ListDocs(context.Background(), charging.DocQuery{Kind: "ocpi_outbox", Owner: party, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func withDB(t *testing.T, dsn string, fn func(*pgx.Conn) error) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if err := fn(c); err != nil {
		t.Fatal(err)
	}
}

func buyer() map[string]any {
	return map[string]any{"@type": "beckn:Buyer", "beckn:id": "user-7", "beckn:role": "BUYER", "beckn:displayName": "Asha"}
}

func orderItems(item string) []any {
	return []any{map[string]any{
		"beckn:orderedItem": item,
		"beckn:quantity":    map[string]any{"unitText": "Kilowatt Hour", "unitCode": "KWH", "unitQuantity": 2.5},
		"beckn:acceptedOffer": map[string]any{"@type": "beckn:Offer", "beckn:id": "offer-" + item, "beckn:items": []string{item},
			"beckn:price": map[string]any{"currency": "EUR", "value": 0.3, "applicableQuantity": map[string]any{"unitCode": "KWH", "unitQuantity": 1}}},
	}}
}

func payment(status string) map[string]any {
	return map[string]any{"@type": "beckn:Payment", "beckn:amount": map[string]any{"currency": "EUR", "value": 0.75},
		"beckn:beneficiary": "BPP", "beckn:paymentStatus": status}
}

func updateMsg(orderID, status string) map[string]any {
	return map[string]any{"order": map[string]any{"@type": "beckn:Order", "beckn:id": orderID, "beckn:orderStatus": "CONFIRMED",
		"beckn:fulfillment": map[string]any{"@type": "beckn:Fulfillment", "beckn:id": "f", "beckn:mode": "RESERVATION",
			"beckn:deliveryAttributes": map[string]any{"@type": "ChargingSession", "sessionStatus": status}}}}
}
