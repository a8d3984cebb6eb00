package ocpi

import (
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// TestPlugStandard: a connector whose plug the charger described is
// published with that plug's standard and format; its power type is DC for
// a DC plug and AC otherwise (the configured AC type, or one phase for the
// single-phase plugs); one not described keeps the configured ones.
func TestPlugStandard(t *testing.T) {
	ac := LocationInfo{Standard: "IEC_62196_T2", Format: "SOCKET", PowerType: "AC_3_PHASE"}
	dc := LocationInfo{Standard: "IEC_62196_T2_COMBO", Format: "CABLE", PowerType: "DC"}
	tests := []struct {
		plug  charging.PlugType
		cable bool
		li    LocationInfo
		want  string
	}{
		{"", false, ac, "IEC_62196_T2 SOCKET AC_3_PHASE"},
		{"", false, dc, "IEC_62196_T2_COMBO CABLE DC"},
		{charging.PlugCCS2, true, ac, "IEC_62196_T2_COMBO CABLE DC"},
		{charging.PlugCHAdeMO, true, ac, "CHADEMO CABLE DC"},
		{charging.PlugType2, true, dc, "IEC_62196_T2 CABLE AC_3_PHASE"},
		{charging.PlugType2, false, ac, "IEC_62196_T2 SOCKET AC_3_PHASE"},
		{charging.PlugType1, true, ac, "IEC_62196_T1 CABLE AC_1_PHASE"},
		{charging.PlugSchuko, false, dc, "DOMESTIC_F SOCKET AC_1_PHASE"},
		{"Unheard", false, ac, "IEC_62196_T2 SOCKET AC_3_PHASE"},
	}
	for _, tt := range tests {
		s, f, p := plugStandard(charging.Connector{Plug: tt.plug, Cable: tt.cable}, tt.li)
		if got := s + " " + f + " " + p; got != tt.want {
			t.Errorf("plug %q cable %v (configured %s): got %s; want %s", tt.plug, tt.cable, tt.li.PowerType, got, tt.want)
		}
	}
	for plug := range plugStandards {
		if plug == "" {
			t.Error("an empty plug has a standard")
		}
	}
}
