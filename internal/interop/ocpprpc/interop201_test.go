package ocpprpc

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
)

// TestOcppRpcSession201: ocpp-rpc, strict, protocol ocpp2.0.1, runs a
// transaction; the session is the canonical one with the right kWh.
func TestOcppRpcSession201(t *testing.T) {
	nodeModules(t)
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	line := runNode(t, 60*time.Second, "session201.js", "ws://"+s.Addr+"/ocpp", "RPC-201")
	var got struct {
		Protocol string
		Boot     struct{ Status string }
		Started  struct {
			IDTokenInfo struct{ Status string } `json:"idTokenInfo"`
		}
		Cert struct{ Status string }
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("ocpp-rpc printed %q: %v", line, err)
	}
	if got.Protocol != "ocpp2.0.1" || got.Boot.Status != "Accepted" || got.Started.IDTokenInfo.Status != "Accepted" || got.Cert.Status != "Failed" {
		t.Fatalf("ocpp-rpc saw %+v; want ocpp2.0.1, Boot Accepted, the token accepted, certificate status Failed", got)
	}
	var page struct{ Items []api.Session }
	if st := s.GetJSON("/api/v1/sessions?charger_id=RPC-201", &page); st != http.StatusOK || len(page.Items) != 1 {
		t.Fatalf("sessions: HTTP %d, %d sessions; want the one", st, len(page.Items))
	}
	if sess := page.Items[0]; sess.Status != "completed" || math.Abs(sess.KWh-7) > 1e-9 || sess.IDTag != "RPC-201" {
		t.Fatalf("session = %+v; want completed, 7 kWh, RPC-201", sess)
	}
}

// runNode runs a script of this folder and returns the last line it
// printed; a failure or a run longer than limit fails the test.
func runNode(t *testing.T, limit time.Duration, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", append([]string{script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, out)
	}
	line := strings.TrimSpace(string(out))
	if i := strings.LastIndex(line, "\n"); i >= 0 {
		line = line[i+1:]
	}
	return line
}
