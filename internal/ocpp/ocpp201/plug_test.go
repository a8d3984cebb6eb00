package ocpp201

import (
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// TestPlugOf: every ConnectorEnumType of the 2.0.1 schema is either a plug
// of the core (with whether it is a fixed cable) or deliberately none.
func TestPlugOf(t *testing.T) {
	tests := []struct {
		typ   string
		plug  charging.PlugType
		cable bool
	}{
		{"cCCS1", charging.PlugCCS1, true}, {"cCCS2", charging.PlugCCS2, true}, {"cG105", charging.PlugCHAdeMO, true},
		{"cTesla", charging.PlugTesla, true}, {"cType1", charging.PlugType1, true}, {"cType2", charging.PlugType2, true},
		{"s309-1P-16A", charging.PlugIEC60309P1, false}, {"s309-1P-32A", "", false}, {"s309-3P-16A", charging.PlugIEC60309P3, false},
		{"s309-3P-32A", charging.PlugIEC60309L3, false}, {"sBS1361", "", false}, {"sCEE-7-7", charging.PlugSchuko, false},
		{"sType2", charging.PlugType2, false}, {"sType3", charging.PlugType3, false}, {"Other1PhMax16A", "", false},
		{"Other1PhOver16A", "", false}, {"Other3Ph", "", false}, {"Pan", charging.PlugPantograph, true},
		{"wInductive", "", false}, {"wResonant", "", false}, {"Undetermined", "", false}, {"Unknown", "", false},
	}
	for _, tt := range tests {
		plug, cable, ok := PlugOf(tt.typ)
		if plug != tt.plug || cable != tt.cable || ok != (tt.plug != "") {
			t.Errorf("PlugOf(%s): got %q, cable %v, %v; want %q, cable %v", tt.typ, plug, cable, ok, tt.plug, tt.cable)
		}
	}
}
