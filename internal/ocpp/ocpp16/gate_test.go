package ocpp16

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// TestGateAdmitsOnlyValidChargerCalls: the gate both adapters share answers
// an unknown action NotImplemented, a central-system action NotSupported,
// a payload the schema refuses with the schema's code (and records it), and
// lets a valid call through. A tolerated charger's over-long string or
// unknown enum value is let through and recorded as tolerated; a strict
// charger's is refused and recorded as refused; other faults are refused
// whatever the switch.
func TestGateAdmitsOnlyValidChargerCalls(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(nil, v, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	var got []string
	h.gate.Record = func(_ context.Context, chargerID, kind, outcome, example string) {
		got = append(got, kind+" "+outcome+" "+example)
	}
	longSerial := `{"chargePointVendor":"Schneider Electric","chargePointModel":"EVlink","chargePointSerialNumber":"` + strings.Repeat("S", 30) + `"}`
	tests := []struct {
		name, action, payload string
		tolerate              bool
		want                  ocpp.ErrorCode // "" for admitted
		record                string         // the recorded violation's kind and outcome
	}{
		{"unknown-action", "Explode", `{}`, false, ocpp.NotImplemented, ""},
		{"central-system-action", "Reset", `{"type":"Soft"}`, false, ocpp.NotSupported, ""},
		{"schema-refused", "Heartbeat", `{"extra":1}`, false, ocpp.FormationViolation, "schema refused"},
		{"schema-refused-when-tolerated", "Heartbeat", `{"extra":1}`, true, ocpp.FormationViolation, "schema refused"},
		{"valid", "Heartbeat", `{}`, false, "", ""},
		{"long-serial-strict", "BootNotification", longSerial, false, ocpp.PropertyConstraintViolation, "string-too-long refused"},
		{"long-serial-tolerated", "BootNotification", longSerial, true, "", "string-too-long tolerated"},
		{"unknown-enum-strict", "StatusNotification", `{"connectorId":1,"errorCode":"NoError","status":"Sleeping"}`, false, ocpp.PropertyConstraintViolation, "unknown-enum refused"},
		{"unknown-enum-tolerated", "StatusNotification", `{"connectorId":1,"errorCode":"NoError","status":"Sleeping"}`, true, "", "unknown-enum tolerated"},
		{"unknown-enum-and-missing-field-tolerated", "StatusNotification", `{"connectorId":1,"status":"Sleeping"}`, true, ocpp.PropertyConstraintViolation, "schema refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			e := h.gate.AdmitFor(context.Background(), "CP-1", tt.tolerate, tt.action, json.RawMessage(tt.payload))
			switch {
			case tt.want == "" && e != nil:
				t.Fatalf("AdmitFor = %v; want admitted", e)
			case tt.want != "" && (e == nil || e.Code != tt.want):
				t.Fatalf("AdmitFor = %v; want code %s", e, tt.want)
			}
			if tt.record == "" {
				if len(got) != 0 {
					t.Fatalf("recorded %q; want nothing", got)
				}
				return
			}
			if len(got) != 1 || !strings.HasPrefix(got[0], tt.record+" "+tt.action) {
				t.Fatalf("recorded %q; want one %q", got, tt.record)
			}
		})
	}
}

// TestGateCountsWithoutRecorder: a gate with no recorder still counts the
// payloads it refuses, once each.
func TestGateCountsWithoutRecorder(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	g := &ocpp.Gate{V: v, Actions: chargerActions, Central: "central system", Log: slog.New(slog.DiscardHandler), BadLogs: NewHandler(nil, v, slog.New(slog.DiscardHandler), Options{}).badLogs, Rejected: &n}
	g.Admit("CP-1", "StatusNotification", json.RawMessage(`{"connectorId":1,"errorCode":"Nope","status":"Sleeping"}`))
	g.Admit("CP-1", "Heartbeat", json.RawMessage(`{}`))
	if got := n.Load(); got != 1 {
		t.Fatalf("counted %d; want 1", got)
	}
}
