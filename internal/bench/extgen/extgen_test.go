package extgen_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/bench/extgen"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/leakcheck"
	"github.com/chargebridge/chargebridge/internal/server"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }

// run runs g until done says so (or 60 s pass, a failure), then stops it.
func run(t *testing.T, g *extgen.Generator, what string, done func(extgen.Stats) bool) extgen.Stats {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- g.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for !done(g.Stats()) {
		if time.Now().After(deadline) {
			cancel()
			<-ended
			t.Fatalf("got %+v after 60 s; want %s", g.Stats(), what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-ended; err != nil {
		t.Fatalf("Run: %v", err)
	}
	return g.Stats()
}

// TestSaturationIsStoredByChargebridge drives a real chargebridge (SQLite
// file, real WebSocket) with the generator: every call is acknowledged,
// and every acknowledged MeterValues is a stored sample with its three
// values.
func TestSaturationIsStoredByChargebridge(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	const chargers = 3
	g, err := extgen.New(extgen.Config{URL: s.WSURL(), Chargers: chargers, IDPrefix: "EXT-", Mode: extgen.Saturation})
	if err != nil {
		t.Fatal(err)
	}
	st := run(t, g, "60 MeterValues acknowledged", func(st extgen.Stats) bool { return st.MeterValues >= 60 })
	if st.Failed() != 0 || st.Disconnects != 0 || st.DialErrors != 0 || st.Transactions != chargers {
		t.Fatalf("got %+v; want no failed call, no disconnect and %d transactions", st, chargers)
	}
	var list struct {
		Items []api.Session `json:"items"`
	}
	if code := s.GetJSON("/api/v1/sessions?limit=100", &list); code != http.StatusOK || len(list.Items) != chargers {
		t.Fatalf("got %d, %d sessions; want 200 and %d", code, len(list.Items), chargers)
	}
	var samples int64
	for _, sess := range list.Items {
		var full api.Session
		s.GetJSON("/api/v1/sessions/"+sess.ID, &full)
		for _, sm := range full.Samples {
			if len(sm.Values) != 3 {
				t.Fatalf("session %s: got a sample with %d values; want 3", sess.ID, len(sm.Values))
			}
		}
		samples += int64(len(full.Samples))
	}
	// A MeterValues written when the run stopped may be stored without
	// its answer read: at most one per charger.
	if samples < st.MeterValues || samples > st.MeterValues+chargers {
		t.Fatalf("got %d stored samples; want the %d acknowledged MeterValues (plus at most %d in flight)", samples, st.MeterValues, chargers)
	}
}

// TestIdleAndPacedAgainstChargebridge: idle chargers heartbeat and paced
// ones send MeterValues, all acknowledged by a real server.
func TestIdleAndPacedAgainstChargebridge(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	for _, tc := range []struct {
		name string
		cfg  extgen.Config
		done func(extgen.Stats) bool
	}{
		{"idle", extgen.Config{Mode: extgen.Idle, HeartbeatInterval: 20 * time.Millisecond, IDPrefix: "IDLE-"},
			func(st extgen.Stats) bool { return st.Acknowledged >= 4+20 }},
		{"paced", extgen.Config{Mode: extgen.Paced, Interval: 20 * time.Millisecond, IDPrefix: "PACED-"},
			func(st extgen.Stats) bool { return st.MeterValues >= 20 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.URL, tc.cfg.Chargers = s.WSURL(), 4
			g, err := extgen.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			st := run(t, g, "calls acknowledged", tc.done)
			if st.Failed() != 0 || st.Disconnects != 0 {
				t.Fatalf("got %+v; want no failed call and no disconnect", st)
			}
			if tc.cfg.Mode == extgen.Idle && (st.Transactions != 0 || st.MeterValues != 0) {
				t.Fatalf("got %+v; want idle chargers to start nothing", st)
			}
		})
	}
}

// TestErrorAnswersAreCounted runs the generator against a peer that
// answers some MeterValues with a CALLERROR, one with a frame that is not
// OCPP-J and one with an answer to another call; it sends a CALL of its
// own too. Each is counted where it belongs, and a CALLERROR does not
// cost the connection.
func TestErrorAnswersAreCounted(t *testing.T) {
	var mvs, errs, calls atomic.Int64
	var mu sync.Mutex
	var refusals []string
	up := websocket.Upgrader{Subprotocols: []string{"ocpp1.6"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			var f []json.RawMessage
			if json.Unmarshal(msg, &f) != nil || len(f) != 4 {
				var kind int
				if len(f) == 5 && json.Unmarshal(f[0], &kind) == nil && kind == 4 {
					mu.Lock()
					refusals = append(refusals, string(f[2]))
					mu.Unlock()
					continue
				}
				t.Errorf("got %s; want a CALL", msg)
				return
			}
			var id, action string
			_ = json.Unmarshal(f[1], &id)
			_ = json.Unmarshal(f[2], &action)
			answer := func(payload string) string { return fmt.Sprintf(`[3,%q,%s]`, id, payload) }
			var out []string
			switch action {
			case "BootNotification":
				out = []string{answer(`{"status":"Accepted","currentTime":"2026-01-01T00:00:00Z","interval":300}`)}
			case "StartTransaction":
				out = []string{answer(`{"transactionId":7,"idTagInfo":{"status":"Accepted"}}`)}
			case "MeterValues":
				switch n := mvs.Add(1); {
				case n > 40:
					// The rest go unanswered, so the counts are exact.
				case n == 3:
					// A server CALL first, then the answer.
					calls.Add(1)
					out = []string{`[2,"srv-1","GetConfiguration",{}]`, answer(`{}`)}
				case n == 5:
					// Not OCPP-J, then an answer to another call, then
					// the real answer.
					out = []string{`{"hello":1}`, `[3,"no-such-call",{}]`, answer(`{}`)}
				case n%4 == 0:
					errs.Add(1)
					out = []string{fmt.Sprintf(`[4,%q,"InternalError","test",{}]`, id)}
				default:
					out = []string{answer(`{}`)}
				}
			}
			for _, o := range out {
				if err := c.WriteMessage(websocket.TextMessage, []byte(o)); err != nil {
					return
				}
			}
		}
	}))
	defer srv.Close()
	g, err := extgen.New(extgen.Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ocpp", Chargers: 1, IDPrefix: "E-", Mode: extgen.Saturation})
	if err != nil {
		t.Fatal(err)
	}
	st := run(t, g, "40 MeterValues answered", func(st extgen.Stats) bool { return st.MeterValues+st.CallErrors >= 40 })
	srv.CloseClientConnections()
	if st.CallErrors != errs.Load() || st.CallErrors != 10 || st.MeterValues != 30 {
		t.Errorf("got %d call errors, %d MeterValues acknowledged; want the %d CALLERRORs the peer sent (10) and 30", st.CallErrors, st.MeterValues, errs.Load())
	}
	if st.BadFrames != 2 {
		t.Errorf("got %d bad frames; want 2 (one not OCPP-J, one answering no call)", st.BadFrames)
	}
	if st.ServerCalls != calls.Load() {
		t.Errorf("got %d server calls; want %d", st.ServerCalls, calls.Load())
	}
	if st.Disconnects != 0 || st.Transactions != 1 {
		t.Errorf("got %+v; want one connection and one transaction throughout", st)
	}
	if st.Failed() != st.CallErrors+2 {
		t.Errorf("got %d failed; want the call errors and bad frames", st.Failed())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refusals) != 1 || refusals[0] != `"NotSupported"` {
		t.Errorf("got answers %v to the server's CALL; want one CALLERROR NotSupported", refusals)
	}
}

// TestRefusedStartIsCounted: a server that refuses the id tag is a
// refusal, not an acknowledged transaction, and no MeterValues follows.
func TestRefusedStartIsCounted(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister) // unknown tags are refused
	g, err := extgen.New(extgen.Config{URL: s.WSURL(), Chargers: 1, IDPrefix: "R-", Mode: extgen.Saturation})
	if err != nil {
		t.Fatal(err)
	}
	st := run(t, g, "a refused start", func(st extgen.Stats) bool { return st.Refused >= 1 })
	if st.Transactions != 0 || st.MeterValues != 0 || st.Failed() < 1 {
		t.Fatalf("got %+v; want a refusal and no transaction", st)
	}
}

// TestSharesNoCodeWithTheServer: the generator's point is to be
// independent of chargebridge's OCPP stack and simulator, so it imports
// no package of this module.
func TestSharesNoCodeWithTheServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v: %s", err, ee.Stderr)
		}
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/chargebridge/chargebridge/") && p != "github.com/chargebridge/chargebridge/internal/bench/extgen" {
			t.Errorf("extgen depends on %s; want no package of chargebridge", p)
		}
	}
}
