package ocpp201

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp16"
)

// AskLimitCaps asks a 2.0.1 station, with GetVariables, the rate units it
// takes limits in (SmartChargingCtrlr.RateUnit: "A", "W" or both) and its
// highest stack level (SmartChargingCtrlr.ProfileStackLevel), for
// ocpp16.NewLimitCapsAsking.
func AskLimitCaps(cmd *ocpp16.Commander) ocpp16.CapsAsker {
	return func(ctx context.Context, chargerID string) (charging.LimitUnit, int, error) {
		req := GetVariablesReq{GetVariableData: []GetVariableData{
			{Component: Component{Name: "SmartChargingCtrlr"}, Variable: Variable{Name: "RateUnit"}},
			{Component: Component{Name: "SmartChargingCtrlr"}, Variable: Variable{Name: "ProfileStackLevel"}},
		}}
		body, _ := json.Marshal(req)
		res, err := cmd.Send(ctx, chargerID, "GetVariables", body, "loadmgmt")
		if err != nil {
			return "", 0, err
		}
		var conf GetVariablesConf
		_ = json.Unmarshal(res, &conf)
		var unit charging.LimitUnit
		stack := 0
		for _, r := range conf.GetVariableResult {
			if r.AttributeStatus != "Accepted" || r.AttributeValue == nil {
				continue
			}
			switch r.Variable.Name {
			case "RateUnit":
				unit = ocpp16.RateUnit(*r.AttributeValue)
			case "ProfileStackLevel":
				if n, err := strconv.Atoi(strings.TrimSpace(*r.AttributeValue)); err == nil && n >= 1 {
					stack = n
				}
			}
		}
		return unit, stack, nil
	}
}
