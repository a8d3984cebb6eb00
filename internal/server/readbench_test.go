package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// BenchmarkGetSessionWithSamples times GET /api/v1/sessions/{id} of a
// session holding 10 000 meter samples (three sampled values each), read
// through the real HTTP server from a SQLite file (issue 16: the reads must
// not get slower while the meter write path changes). The samples are
// stored through OCPP, 50 per MeterValues, so the set-up follows whatever
// the store does with them.
//
//	go test -run '^$' -bench 'GetSessionWithSamples$' -benchtime 10x ./internal/server/
func BenchmarkGetSessionWithSamples(b *testing.B) { getSessionWithSamples(b) }

// BenchmarkGetSessionWithSamplesPostgres is the same on PostgreSQL (a
// schema of its own in CHARGEBRIDGE_TEST_POSTGRES's database).
//
//	go test -run '^$' -bench GetSessionWithSamplesPostgres -benchtime 10x ./internal/server/
func BenchmarkGetSessionWithSamplesPostgres(b *testing.B) {
	dsn := pgtest.Schema(b)
	getSessionWithSamples(b, cbtest.Configure(func(c *server.Config) { c.DB = dsn }))
}

func getSessionWithSamples(b *testing.B, opts ...cbtest.Option) {
	const samples, perCall = 10000, 50
	opts = append([]cbtest.Option{cbtest.AutoRegister, cbtest.Configure(func(c *server.Config) { c.AcceptUnknownTags = true })}, opts...)
	s := cbtest.Start(b, opts...)
	c := s.MustDial("CP-READ")
	defer c.Close()
	c.Call("BootNotification", map[string]any{"chargePointVendor": "bench", "chargePointModel": "read"})
	var st struct {
		TransactionID int64 `json:"transactionId"`
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c.MustCall("StartTransaction", map[string]any{"connectorId": 1, "idTag": "READ", "meterStart": 0, "timestamp": t0.Format(time.RFC3339)}, &st)
	for i := 0; i < samples; i += perCall {
		var mv strings.Builder
		for j := i; j < i+perCall; j++ {
			if j > i {
				mv.WriteByte(',')
			}
			fmt.Fprintf(&mv, `{"timestamp":%q,"sampledValue":[{"value":"%d","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"7400","measurand":"Power.Active.Import","unit":"W"},{"value":"32.1","measurand":"Current.Import","phase":"L1","unit":"A"}]}`,
				t0.Add(time.Duration(j+1)*time.Second).Format(time.RFC3339), 10*(j+1))
		}
		c.SendRaw(fmt.Sprintf(`[2,"mv%d","MeterValues",{"connectorId":1,"transactionId":%d,"meterValue":[%s]}]`, i, st.TransactionID, mv.String()))
		if ans := string(c.MustRead()); !strings.HasPrefix(ans, "[3,") {
			b.Fatalf("MeterValues answered %s", ans)
		}
	}
	var list struct {
		Items []api.Session `json:"items"`
	}
	if code := s.GetJSON("/api/v1/sessions", &list); code != http.StatusOK || len(list.Items) != 1 {
		b.Fatalf("got %d, %d sessions; want one", code, len(list.Items))
	}
	url := s.URL() + "/api/v1/sessions/" + list.Items[0].ID
	var full api.Session
	s.GetJSON("/api/v1/sessions/"+list.Items[0].ID, &full)
	if len(full.Samples) != samples {
		b.Fatalf("got %d samples; want %d", len(full.Samples), samples)
	}
	var bytes int64
	for b.Loop() {
		bytes, _ = cbtest.Get(b, s.HTTP, url, "")
	}
	b.ReportMetric(float64(bytes), "body-bytes")
}
