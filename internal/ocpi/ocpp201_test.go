package ocpi_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// TestSessionAndCDRFrom201Station: a session of a simulated OCPP 2.0.1
// station (TransactionEvents) reaches a real HTTP eMSP as an OCPI Session
// and a CDR with the energy the API shows, its EVSE as CHARGING meanwhile.
func TestSessionAndCDRFrom201Station(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	e.register(s)
	ch, err := sim.NewCharger(sim.Config{
		URL: "ws://" + s.Addr + "/ocpp", Protocol: "2.0.1", Connectors: 1, NoAutoStart: true, TimeScale: 600,
		MeterInterval: 50 * time.Millisecond, ReconnectMin: time.Hour, ReconnectMax: time.Hour,
		FinishingTime: sim.DurationRange{Min: time.Millisecond, Max: time.Millisecond},
	}, "ST-201")
	if err != nil {
		t.Fatal(err)
	}
	cbtest.Run(t, ch)
	waitFor(t, "the station to boot", func() bool {
		c, err := s.Service().Store().GetCharger(context.Background(), "ST-201")
		return err == nil && c.BootStatus == charging.BootAccepted && len(c.Connectors) >= 1
	})
	if err := ch.StartSession(1, "04AABB2010"); err != nil {
		t.Fatal(err)
	}
	var sessionID string
	waitFor(t, "the session PUT with energy", func() bool {
		for _, p := range pushesTo(e, "", "/sessions/NL/CBR/") {
			var m map[string]any
			_ = json.Unmarshal(p.Body, &m)
			if k, ok := m["kwh"].(float64); ok && k > 0 {
				sessionID = strings.TrimPrefix(p.Path, "/sessions/NL/CBR/")
				return true
			}
		}
		return false
	})
	waitFor(t, "the EVSE PATCHed CHARGING", func() bool {
		for _, p := range pushesTo(e, "PATCH", "/locations/NL/CBR/ST-201/ST-201-1") {
			if strings.Contains(string(p.Body), `"CHARGING"`) {
				return true
			}
		}
		return false
	})
	if err := ch.StopSession(1, "Local"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the CDR POST", func() bool { return len(pushesTo(e, "POST", "/cdrs")) > 0 })
	var sess api.Session
	if code := s.GetJSON("/api/v1/sessions/"+sessionID, &sess); code != 200 || sess.Status != "completed" || sess.KWh <= 0 {
		t.Fatalf("session %s: %d %+v; want completed with energy", sessionID, code, sess)
	}
	var cdr struct {
		SessionID   string  `json:"session_id"`
		TotalEnergy float64 `json:"total_energy"`
		CdrToken    struct {
			UID string `json:"uid"`
		} `json:"cdr_token"`
	}
	if err := json.Unmarshal(pushesTo(e, "POST", "/cdrs")[0].Body, &cdr); err != nil {
		t.Fatal(err)
	}
	if cdr.SessionID != sessionID || math.Abs(cdr.TotalEnergy-sess.KWh) > 1e-6 || cdr.CdrToken.UID != "04AABB2010" {
		t.Errorf("CDR %+v; want session %s, %v kWh, token 04AABB2010", cdr, sessionID, sess.KWh)
	}
}
