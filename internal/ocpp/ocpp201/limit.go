package ocpp201

import (
	"context"
	"encoding/json"
	"fmt"
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

// SetBasicAuthPassword gives a 2.0.1 station a new Basic-auth password
// (SetVariables SecurityCtrlr.BasicAuthPassword, the counterpart of 1.6's
// AuthorizationKey) and returns the station's attributeStatus: Accepted,
// RebootRequired, Rejected, …
func SetBasicAuthPassword(ctx context.Context, cmd *ocpp16.Commander, chargerID, password, requestedBy string) (string, error) {
	body, _ := json.Marshal(SetVariablesReq{SetVariableData: []SetVariableData{{AttributeValue: password,
		Component: Component{Name: "SecurityCtrlr"}, Variable: Variable{Name: "BasicAuthPassword"}}}})
	res, err := cmd.Send(ctx, chargerID, "SetVariables", body, requestedBy)
	if err != nil {
		return "", err
	}
	var conf SetVariablesConf
	if err := json.Unmarshal(res, &conf); err != nil || len(conf.SetVariableResult) != 1 {
		return "", fmt.Errorf("%w: SetVariables answered %s", charging.ErrInvalidAnswer, res)
	}
	return conf.SetVariableResult[0].AttributeStatus, nil
}
