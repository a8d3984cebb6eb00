package beckn

import (
	"slices"
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// The enums of EvChargingService v2.0's attributes.yaml
// (shared/specs/beckn/deg/specification/schema/EvChargingService/v2.0).
var (
	degConnectorTypes   = []string{"CCS2", "Type2", "CHAdeMO", "GB_T"}
	degPowerTypes       = []string{"AC_SINGLE_PHASE", "AC_3_PHASE", "DC"}
	degConnectorFormats = []string{"SOCKET", "CABLE"}
)

// An item says what DEG's enums allow, from the plug the charger described
// when DEG can name it, else from the configuration (before, a Type2
// configuration gave powerType "AC", which the schema does not have).
func TestItemPlugIsADEGValue(t *testing.T) {
	if !slices.Equal(ConnectorTypes, degConnectorTypes) {
		t.Fatalf("ConnectorTypes %v; the schema has %v", ConnectorTypes, degConnectorTypes)
	}
	b, _ := testBPP(t)
	conn := func(plug charging.PlugType, cable bool) charging.Connector {
		return charging.Connector{ChargerID: "CP-1", ConnectorID: 1, Plug: plug, Cable: cable}
	}
	evse := conn("", false)
	evse.EVSEConnectors = []charging.Connector{conn(charging.PlugType1, true), conn(charging.PlugCHAdeMO, true), conn(charging.PlugType2, false)}
	for _, tc := range []struct {
		name       string
		configured string
		cn         charging.Connector
		want       itemPlug
	}{
		{"configured Type2", "Type2", conn("", false), itemPlug{"Type2", "AC_3_PHASE", ""}},
		{"configured CCS2", "CCS2", conn("", false), itemPlug{"CCS2", "DC", ""}},
		{"configured GB_T", "GB_T", conn("", false), itemPlug{"GB_T", "DC", ""}},
		{"described CCS2 cable", "Type2", conn(charging.PlugCCS2, true), itemPlug{"CCS2", "DC", "CABLE"}},
		{"described Type2 socket", "CCS2", conn(charging.PlugType2, false), itemPlug{"Type2", "AC_3_PHASE", "SOCKET"}},
		{"described, DEG has no name", "CCS2", conn(charging.PlugType1, true), itemPlug{"CCS2", "DC", ""}},
		{"EVSE: first connector DEG names", "Type2", evse, itemPlug{"CHAdeMO", "DC", "CABLE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.cfg.Catalog.ConnectorType = tc.configured
			it := b.item(charging.Charger{ID: "CP-1"}, tc.cn, nil)
			a := it.Attributes
			if got := (itemPlug{a.ConnectorType, a.PowerType, a.ConnectorFormat}); got != tc.want {
				t.Errorf("item says %+v; want %+v", got, tc.want)
			}
			if !slices.Contains(degConnectorTypes, a.ConnectorType) || !slices.Contains(degPowerTypes, a.PowerType) ||
				(a.ConnectorFormat != "" && !slices.Contains(degConnectorFormats, a.ConnectorFormat)) {
				t.Errorf("item attributes %q, %q, %q: not values of the schema", a.ConnectorType, a.PowerType, a.ConnectorFormat)
			}
		})
	}
}
