package ocpp16

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// TestGateAdmitsOnlyValidChargerCalls: the gate both adapters share answers
// an unknown action NotImplemented, a central-system action NotSupported,
// a payload the schema refuses with the schema's code (and counts it), and
// lets a valid call through.
func TestGateAdmitsOnlyValidChargerCalls(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(nil, v, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	tests := []struct {
		name, action, payload string
		want                  ocpp.ErrorCode // "" for admitted
	}{
		{"unknown-action", "Explode", `{}`, ocpp.NotImplemented},
		{"central-system-action", "Reset", `{"type":"Soft"}`, ocpp.NotSupported},
		{"schema-refused", "Heartbeat", `{"extra":1}`, "schema"},
		{"valid", "Heartbeat", `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.viol.SchemaRejected.Load()
			e := h.gate.Admit("CP-1", tt.action, json.RawMessage(tt.payload))
			switch {
			case tt.want == "" && e != nil:
				t.Fatalf("Admit = %v; want admitted", e)
			case tt.want == "schema":
				if e == nil {
					t.Fatal("Admit = nil; want a schema error")
				}
				if got := h.viol.SchemaRejected.Load() - before; got != 1 {
					t.Errorf("schema rejections counted %d; want 1", got)
				}
			case tt.want != "" && (e == nil || e.Code != tt.want):
				t.Fatalf("Admit = %v; want code %s", e, tt.want)
			}
		})
	}
}
