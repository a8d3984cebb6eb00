// Package ocpprpc tests chargebridge against a third-party OCPP client: the
// npm package ocpp-rpc runs a charging session against a real server.
package ocpprpc

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/testenv"
)

// nodeModules makes sure ocpp-rpc is installed beside session.js, or skips.
func nodeModules(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "the ocpp-rpc interoperability test needs Node.js 18+ and npm, and node is not installed")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "ocpp-rpc")); err == nil {
		return
	}
	if _, err := exec.LookPath("npm"); err != nil {
		testenv.Missing(t, "the ocpp-rpc interoperability test needs npm to install ocpp-rpc, and npm is not installed")
	}
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--loglevel=error")
	if out, err := cmd.CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("npm install ocpp-rpc failed (no registry?): %v\n%s", err, out))
	}
}

func TestOcppRpcSession(t *testing.T) {
	nodeModules(t)
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	line := runNode(t, 60*time.Second, "session.js", "ws://"+s.Addr+"/ocpp", "RPC-CP-1")
	var got struct {
		Boot  struct{ Status string }
		Start struct {
			TransactionID int64                   `json:"transactionId"`
			IDTagInfo     struct{ Status string } `json:"idTagInfo"`
		}
		Unknown string
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("ocpp-rpc printed %q: %v", line, err)
	}
	if got.Boot.Status != "Accepted" || got.Start.TransactionID <= 0 || got.Start.IDTagInfo.Status != "Accepted" {
		t.Fatalf("ocpp-rpc saw %+v; want Boot Accepted and a transaction", got)
	}
	if got.Unknown != "NotImplemented" {
		t.Fatalf("unknown action answered %q; want CALLERROR NotImplemented", got.Unknown)
	}
	var page struct{ Items []api.Session }
	if st := s.GetJSON("/api/v1/sessions?charger_id=RPC-CP-1", &page); st != http.StatusOK || len(page.Items) != 1 {
		t.Fatalf("sessions: HTTP %d, %d sessions; want the one", st, len(page.Items))
	}
	sess := page.Items[0]
	if sess.Status != "completed" || math.Abs(sess.KWh-7) > 1e-9 || sess.TransactionID != strconv.FormatInt(got.Start.TransactionID, 10) {
		t.Fatalf("session = %+v; want completed, 7 kWh, transaction %d", sess, got.Start.TransactionID)
	}
}
