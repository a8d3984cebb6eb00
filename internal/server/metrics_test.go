package server_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/ocpi"
	"github.com/chargebridge/chargebridge/internal/server"
)

// scrape returns /metrics' samples by name and labels, e.g.
// `chargebridge_sessions{status="active"}`.
func scrape(t *testing.T, s *cbtest.Server) map[string]float64 {
	t.Helper()
	resp, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, m := range regexp.MustCompile(`(?m)^(chargebridge_[^ ]+) (\S+)$`).FindAllStringSubmatch(string(b), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("%s: %v", m[0], err)
		}
		out[m[1]] = v
	}
	return out
}

func want(t *testing.T, got map[string]float64, name string, v float64) {
	t.Helper()
	if g, ok := got[name]; !ok || g != v {
		t.Errorf("%s = %v (present %v); want %v", name, g, ok, v)
	}
}

// TestMetrics runs a session and checks the operator's metrics: sessions by
// status (a retried StopTransaction counted once), energy, connectors by
// status, store commits; and that a restarted server starts from the
// database.
func TestMetrics(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true }))
	c := s.MustDial("CP-M")
	boot(t, c)
	c.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": "2026-11-21T10:00:00Z"}, nil)
	// A timestamp without a zone: tolerated, and counted.
	c.MustCall("StatusNotification", map[string]any{"connectorId": 2, "errorCode": "GroundFailure", "status": "Faulted", "timestamp": "2026-11-21T10:00:00"}, nil)
	var start startConf
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "TAG-M", "meterStart": 1000, "timestamp": "2026-11-21T10:00:05Z"}, &start)
	m := scrape(t, s)
	want(t, m, `chargebridge_sessions{status="active"}`, 1)
	want(t, m, `chargebridge_connectors{status="Charging"}`, 1)
	want(t, m, `chargebridge_connectors{status="Faulted"}`, 1)
	want(t, m, `chargebridge_violations_total{kind="timestamp_without_zone",outcome="tolerated"}`, 1)
	want(t, m, `chargebridge_violations_total{kind="schema",outcome="refused"}`, 0)
	if m["chargebridge_store_commit_seconds_count"] < 1 {
		t.Errorf("chargebridge_store_commit_seconds_count = %v; want the commits counted", m["chargebridge_store_commit_seconds_count"])
	}

	stop := map[string]any{"transactionId": start.TransactionID, "idTag": "TAG-M", "meterStop": 13250, "timestamp": "2026-11-21T11:00:05Z"}
	c.MustCall("StopTransaction", stop, nil)
	c.MustCall("StopTransaction", stop, nil) // a retry: counted once
	c.MustCall("StartTransaction", map[string]any{"connectorId": 2, "idTag": "TAG-N", "meterStart": 0, "timestamp": "2026-11-21T11:00:06Z"}, &start)
	c.MustCall("StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "2026-11-21T11:01:00Z"}, nil)
	m = scrape(t, s)
	want(t, m, `chargebridge_sessions{status="active"}`, 1)
	want(t, m, `chargebridge_sessions_ended_total{status="completed"}`, 1)
	want(t, m, `chargebridge_energy_delivered_kwh_total`, 12.25)
	want(t, m, `chargebridge_connectors{status="Available"}`, 1)
	want(t, m, `chargebridge_connectors{status="Charging"}`, 0)
	want(t, m, `chargebridge_chargers_connected`, 1)
	if _, ok := m[`chargebridge_ocpi_pushes_total{result="delivered"}`]; !ok {
		t.Errorf("no chargebridge_ocpi_pushes_total in /metrics")
	}

	// A new process on the same database starts from what it holds.
	c.Close()
	s.Stop()
	s2 := cbtest.StartWithDB(t, s.DBPath)
	m = scrape(t, s2)
	want(t, m, `chargebridge_sessions{status="active"}`, 1)
	want(t, m, `chargebridge_connectors{status="Available"}`, 1)
	want(t, m, `chargebridge_connectors{status="Faulted"}`, 1)
	want(t, m, `chargebridge_sessions_ended_total{status="completed"}`, 0)
}

// TestDeployFilesUseServedMetrics fails when the Grafana dashboard or the
// alert rules in deploy/ name a chargebridge_ metric that /metrics does not
// serve (a typo, or a renamed metric).
func TestDeployFilesUseServedMetrics(t *testing.T) {
	beckn := becknConfig(t).Beckn
	s := cbtest.Start(t, cbtest.Configure(func(c *server.Config) { c.Beckn = beckn }))
	docs, err := s.Service().Docs()
	if err != nil {
		t.Fatal(err)
	}
	// A party, so the per-party outbox gauges have a sample.
	if _, err := ocpi.AddPeer(context.Background(), docs, "NL", "ABC", time.Now()); err != nil {
		t.Fatal(err)
	}
	// A site, so the per-site gauges have a sample.
	if st, body := call(t, s, http.MethodPut, "/api/v1/sites/S1", `{"max_power_kw":22,"chargers":["CP-1"]}`); st != http.StatusOK {
		t.Fatalf("PUT site: %d %s", st, body)
	}
	served := map[string]bool{}
	for name := range scrape(t, s) {
		name, _, _ = strings.Cut(name, "{")
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			name = strings.TrimSuffix(name, suffix)
		}
		served[name] = true
	}
	for _, f := range []string{"grafana-dashboard.json", "prometheus-alerts.yml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "deploy", f))
		if err != nil {
			t.Fatal(err)
		}
		names := regexp.MustCompile(`chargebridge_[a-z_]+`).FindAllString(string(b), -1)
		if len(names) < 5 {
			t.Fatalf("deploy/%s names %d chargebridge metrics; want its panels or rules", f, len(names))
		}
		for _, n := range names {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				n = strings.TrimSuffix(n, suffix)
			}
			if !served[n] {
				t.Errorf("deploy/%s uses %s, which /metrics does not serve", f, n)
			}
		}
	}
}
