package ocpprpc

import (
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
	cmd := exec.Command("node", "session201.js", "ws://"+s.Addr+"/ocpp", "RPC-201")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("ocpp-rpc 2.0.1 session did not finish in 60s")
	}
	if err != nil {
		t.Fatalf("ocpp-rpc 2.0.1 session failed: %v\n%s", err, out)
	}
	line := strings.TrimSpace(string(out))
	if i := strings.LastIndex(line, "\n"); i >= 0 {
		line = line[i+1:]
	}
	var got struct {
		Protocol string
		Boot     struct{ Status string }
		Started  struct {
			IDTokenInfo struct{ Status string } `json:"idTokenInfo"`
		}
		Cert struct{ Status string }
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("ocpp-rpc printed %q: %v", out, err)
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
