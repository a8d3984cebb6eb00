package ocpi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/sim"
)

// TestEVSEWithTwoConnectors: a simulated OCPP 2.0.1 station whose EVSE 1
// has two connectors (a CCS and a Type 2 cable), on a real WebSocket and a
// real SQLite file. Each connector's status is stored under its number; a
// transaction on EVSE 1 connector 2 is recorded as such; the API shows
// evse_id and evse_connector_id, the EVSE is charging while its other
// connector is free, and OCPI has one EVSE with both connectors, the
// session and its CDR naming connector "2".
func TestEVSEWithTwoConnectors(t *testing.T) {
	s := startCPO(t)
	e := newEMSP(t)
	e.register(s)
	st, err := sim.NewCharger(sim.Config{
		URL: "ws://" + s.Addr + "/ocpp", Protocol: "2.0.1", OneEVSE: true, Connectors: 2, ConnectorTypes: []string{"cCCS2", "cType2"}, NoAutoStart: true, TimeScale: 600,
		MaxPowerKW: 22, MeterInterval: 50 * time.Millisecond, StepTime: time.Millisecond, Energy: sim.KWhRange{Min: 40, Max: 40},
		FinishingTime: sim.DurationRange{Min: time.Millisecond, Max: time.Millisecond}, ReconnectMin: time.Hour, ReconnectMax: time.Hour,
	}, "DC-1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = st.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	// charger reads the API's charger JSON as a client would.
	type conn struct {
		ConnectorID     int                      `json:"connector_id"`
		EVSEID          int                      `json:"evse_id"`
		EVSEConnectorID int                      `json:"evse_connector_id"`
		Status          charging.ConnectorStatus `json:"status"`
		State           charging.ConnectorState  `json:"state"`
		EVSEConnectors  []conn                   `json:"evse_connectors"`
	}
	charger := func() []conn {
		var c struct {
			Connectors []conn `json:"connectors"`
		}
		if code := s.Do(http.MethodGet, "/api/v1/chargers/DC-1", nil, &c); code != http.StatusOK {
			return nil
		}
		return c.Connectors
	}
	// statuses is "evse/connector status" of each connector, as the API
	// lists them under their EVSE.
	statuses := func(cs []conn) string {
		var out []string
		for _, e := range cs {
			for _, k := range e.EVSEConnectors {
				out = append(out, strconv.Itoa(k.EVSEID)+"/"+strconv.Itoa(k.EVSEConnectorID)+" "+string(k.Status))
			}
		}
		return strings.Join(out, ", ")
	}
	waitFor(t, "both connectors of EVSE 1 to report", func() bool {
		return statuses(charger()) == "1/1 Available, 1/2 Available"
	})
	cs := charger()
	if len(cs) != 1 || cs[0].ConnectorID != 1 || cs[0].EVSEID != 1 || cs[0].EVSEConnectorID != 0 || cs[0].Status != charging.StatusAvailable {
		t.Fatalf("connectors of DC-1: %+v; want one entry, EVSE 1, Available", cs)
	}
	waitLocationPut(t, e, "/locations/NL/CBR/DC-1", "DC-1-1 AVAILABLE")

	// The driver takes the Type 2 cable: a transaction on EVSE 1
	// connector 2.
	if err := st.StartSession(2, "04AABBCCDD"); err != nil {
		t.Fatal(err)
	}
	type session struct {
		ID              string                 `json:"id"`
		Status          charging.SessionStatus `json:"status"`
		KWh             float64                `json:"kwh"`
		ConnectorID     int                    `json:"connector_id"`
		EVSEID          int                    `json:"evse_id"`
		EVSEConnectorID int                    `json:"evse_connector_id"`
	}
	var sess session
	waitFor(t, "the session on EVSE 1 connector 2 to charge", func() bool {
		var list struct {
			Items []session `json:"items"`
		}
		s.Do(http.MethodGet, "/api/v1/sessions?charger_id=DC-1", nil, &list)
		for _, x := range list.Items {
			if x.Status == charging.SessionActive && x.KWh > 0 {
				sess = x
				return true
			}
		}
		return false
	})
	if sess.ConnectorID != 1 || sess.EVSEID != 1 || sess.EVSEConnectorID != 2 {
		t.Errorf("session: connector_id %d, evse_id %d, evse_connector_id %d; want 1, 1, 2", sess.ConnectorID, sess.EVSEID, sess.EVSEConnectorID)
	}
	var raw map[string]any
	s.Do(http.MethodGet, "/api/v1/sessions/"+sess.ID, nil, &raw)
	if raw["evse_id"] != float64(1) || raw["evse_connector_id"] != float64(2) || raw["connector_id"] != float64(1) {
		t.Errorf("session JSON: connector_id %v, evse_id %v, evse_connector_id %v; want 1, 1, 2", raw["connector_id"], raw["evse_id"], raw["evse_connector_id"])
	}
	// The EVSE is charging: its Type 2 cable is, though the CCS cable
	// says Available.
	waitFor(t, "EVSE 1 to show its Type 2 connector charging", func() bool {
		return statuses(charger()) == "1/1 Available, 1/2 Charging"
	})
	if cs := charger(); cs[0].Status != charging.StatusCharging {
		t.Errorf("EVSE 1 is %s while its connector 2 charges; want Charging", cs[0].Status)
	}

	// OCPI: one EVSE, with both connectors; the session names connector 2.
	var loc struct {
		EVSEs []struct {
			UID        string `json:"uid"`
			Status     string `json:"status"`
			Connectors []struct {
				ID        string `json:"id"`
				Standard  string `json:"standard"`
				Format    string `json:"format"`
				PowerType string `json:"power_type"`
			} `json:"connectors"`
		} `json:"evses"`
	}
	waitFor(t, "the OCPI EVSE to be CHARGING", func() bool {
		code, env, _ := e.call(http.MethodGet, s.URL()+"/ocpi/2.2.1/locations/DC-1", nil)
		return code == 200 && json.Unmarshal(env.Data, &loc) == nil && len(loc.EVSEs) == 1 && loc.EVSEs[0].Status == "CHARGING"
	})
	if ev := loc.EVSEs[0]; ev.UID != "DC-1-1" || len(ev.Connectors) != 2 || ev.Connectors[0].ID != "1" || ev.Connectors[1].ID != "2" {
		t.Errorf("OCPI EVSE: %+v; want DC-1-1 with connectors 1 and 2", ev)
	}
	// Each connector's standard is the plug the station's device model
	// describes (ConnectorType cCCS2, cType2).
	waitFor(t, "the OCPI connectors' standards from the device model", func() bool {
		code, env, _ := e.call(http.MethodGet, s.URL()+"/ocpi/2.2.1/locations/DC-1", nil)
		if code != 200 || json.Unmarshal(env.Data, &loc) != nil || len(loc.EVSEs) != 1 || len(loc.EVSEs[0].Connectors) != 2 {
			return false
		}
		k := loc.EVSEs[0].Connectors
		return k[0].Standard+" "+k[0].Format+" "+k[0].PowerType == "IEC_62196_T2_COMBO CABLE DC" &&
			k[1].Standard+" "+k[1].Format+" "+k[1].PowerType == "IEC_62196_T2 CABLE AC_3_PHASE"
	})
	// The Location was pushed before the station described its plugs: the
	// next synchronization pushes it again with them.
	if err := s.OCPI().Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a Location PUT with the connectors' standards", func() bool {
		for _, p := range pushesTo(e, "PUT", "/locations/NL/CBR/DC-1") {
			if p.Path == "/locations/NL/CBR/DC-1" && strings.Contains(string(p.Body), `"IEC_62196_T2_COMBO"`) {
				return true
			}
		}
		return false
	})
	for _, cid := range []string{"1", "2"} {
		if code, _, _ := e.call(http.MethodGet, s.URL()+"/ocpi/2.2.1/locations/DC-1/DC-1-1/"+cid, nil); code != 200 {
			t.Errorf("GET OCPI connector %s of DC-1-1: HTTP %d; want 200", cid, code)
		}
	}
	if code, _, _ := e.call(http.MethodGet, s.URL()+"/ocpi/2.2.1/locations/DC-1/DC-1-1/3", nil); code != 404 {
		t.Errorf("GET OCPI connector 3 of DC-1-1: HTTP %d; want 404", code)
	}
	waitFor(t, "the OCPI session PUT naming connector 2", func() bool {
		for _, p := range pushesTo(e, "PUT", "/sessions/NL/CBR/"+sess.ID) {
			var o struct {
				EVSEUID     string `json:"evse_uid"`
				ConnectorID string `json:"connector_id"`
			}
			if json.Unmarshal(p.Body, &o) == nil && o.EVSEUID == "DC-1-1" && o.ConnectorID == "2" {
				return true
			}
		}
		return false
	})

	// The session ends; its CDR names connector 2 of EVSE DC-1-1.
	if err := st.StopSession(2, "Local"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the CDR", func() bool {
		for _, p := range pushesTo(e, "POST", "/cdrs") {
			var cdr struct {
				SessionID   string `json:"session_id"`
				CdrLocation struct {
					EVSEUID     string `json:"evse_uid"`
					ConnectorID string `json:"connector_id"`
					Standard    string `json:"connector_standard"`
				} `json:"cdr_location"`
			}
			if json.Unmarshal(p.Body, &cdr) == nil && cdr.SessionID == sess.ID {
				if l := cdr.CdrLocation; l.EVSEUID != "DC-1-1" || l.ConnectorID != "2" || l.Standard != "IEC_62196_T2" {
					t.Errorf("CDR location: EVSE %q connector %q standard %q; want DC-1-1, 2, IEC_62196_T2", l.EVSEUID, l.ConnectorID, l.Standard)
				}
				return true
			}
		}
		return false
	})

	// Unlocking connector 2 of EVSE 1 reaches the station as such (the
	// simulator refuses a connector it does not have: 3).
	for _, tc := range []struct {
		conn int
		code int
	}{{2, 200}, {3, 409}} {
		var out map[string]any
		if code := s.Do(http.MethodPost, "/api/v1/chargers/DC-1/actions/unlock", map[string]any{"connector_id": 1, "evse_connector_id": tc.conn}, &out); code != tc.code {
			t.Errorf("unlock EVSE 1 connector %d: HTTP %d %v; want %d", tc.conn, code, out, tc.code)
		}
	}
}
