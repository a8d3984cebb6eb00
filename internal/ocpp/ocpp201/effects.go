package ocpp201

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp16"
)

// Effects carries answered 2.0.1 commands into the session core, as
// ocpp16.CoreEffects does for 1.6: a remote start leaves a pending session,
// a remote stop marks the session stopping, a reservation is a reserved
// session, an availability request and the charging profiles a station
// accepted are kept as documents. Commands sent raw have the same effects.
type Effects struct {
	Svc *charging.Service
	// PendingTimeout closes a remote start the station accepted but never
	// followed with a TransactionEvent.
	PendingTimeout time.Duration
}

var _ ocpp16.Effects = Effects{}

// CommandAnswered applies the meaning of an answered command.
func (e Effects) CommandAnswered(ctx context.Context, chargerID, action string, request, response json.RawMessage) error {
	if action == "SetVariables" {
		return e.variablesSet(ctx, chargerID, request, response)
	}
	var conf struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(response, &conf)
	if conf.Status == "Rejected" || conf.Status == "" {
		return nil
	}
	switch action {
	case "RequestStartTransaction":
		var r RequestStartTransactionReq
		if err := json.Unmarshal(request, &r); err != nil {
			return err
		}
		evse := 0 // the station picks the EVSE
		if r.EVSEID != nil {
			evse = *r.EVSEID
		}
		_, err := e.Svc.RemoteStartAccepted(ctx, chargerID, evse, r.IDToken.IDToken, e.PendingTimeout)
		return err
	case "RequestStopTransaction":
		var r RequestStopTransactionReq
		if err := json.Unmarshal(request, &r); err != nil {
			return err
		}
		s, err := sessionOfTransaction(ctx, e.Svc, chargerID, r.TransactionID)
		if errors.Is(err, charging.ErrNotFound) {
			return nil // no session to show stopping: the Ended event ends it
		}
		if err != nil {
			return err
		}
		return e.Svc.RemoteStopAccepted(ctx, chargerID, s.TransactionID)
	case "ReserveNow":
		if conf.Status != "Accepted" {
			return nil
		}
		var r ReserveNowReq
		if err := json.Unmarshal(request, &r); err != nil {
			return err
		}
		evse := 0
		if r.EVSEID != nil {
			evse = *r.EVSEID
		}
		_, err := e.Svc.ReservationAccepted(ctx, charging.Reservation{ChargerID: chargerID, ConnectorID: evse,
			ReservationID: r.ID, IDTag: r.IDToken.IDToken, ExpiresAt: r.ExpiryDateTime})
		return err
	case "CancelReservation":
		var r CancelReservationReq
		if err := json.Unmarshal(request, &r); err != nil {
			return err
		}
		return e.Svc.ReservationCancelled(ctx, chargerID, r.ReservationID)
	case "ChangeAvailability":
		var r ChangeAvailabilityReq
		if err := json.Unmarshal(request, &r); err != nil {
			return err
		}
		evse := 0
		if r.EVSE != nil {
			evse = r.EVSE.ID
		}
		// The same document as 1.6's: type is Operative or Inoperative in both.
		body, _ := json.Marshal(map[string]any{"connector_id": evse, "type": r.OperationalStatus, "status": conf.Status, "requested_at": e.Svc.Clock().Now().UTC()})
		return e.putDoc(ctx, charging.DocAvailability, chargerID+"/"+strconv.Itoa(evse), chargerID, body)
	case "SetChargingProfile":
		var r SetChargingProfileReq
		if err := json.Unmarshal(request, &r); err != nil {
			return err
		}
		return e.putDoc(ctx, charging.DocChargingProfile, fmt.Sprintf("%s/%d/%d", chargerID, r.EVSEID, r.ChargingProfile.ID), chargerID, request)
	case "ClearChargingProfile":
		return e.clearProfiles(ctx, chargerID, request)
	}
	return nil
}

func (e Effects) putDoc(ctx context.Context, kind, id, owner string, body []byte) error {
	docs, err := e.Svc.Docs()
	if err != nil {
		return err
	}
	return docs.PutDoc(ctx, charging.Doc{Kind: kind, ID: id, Owner: owner, Body: body, Updated: e.Svc.Clock().Now().UTC()})
}

// clearProfiles drops the stored profiles a ClearChargingProfile the
// station accepted cleared: by id, or by its criteria (EVSE, purpose,
// stack level).
func (e Effects) clearProfiles(ctx context.Context, chargerID string, request json.RawMessage) error {
	var r struct {
		ID       *int `json:"chargingProfileId"`
		Criteria *struct {
			EVSEID     *int    `json:"evseId"`
			Purpose    *string `json:"chargingProfilePurpose"`
			StackLevel *int    `json:"stackLevel"`
		} `json:"chargingProfileCriteria"`
	}
	if err := json.Unmarshal(request, &r); err != nil {
		return err
	}
	docs, err := e.Svc.Docs()
	if err != nil {
		return err
	}
	list, _, err := docs.ListDocs(ctx, charging.DocQuery{Kind: charging.DocChargingProfile, Owner: chargerID, Limit: 10000})
	if err != nil {
		return err
	}
	for _, d := range list {
		var p SetChargingProfileReq
		if json.Unmarshal(d.Body, &p) != nil || p.ChargingProfile.ChargingProfileKind == "" {
			continue // not a 2.0.1 profile
		}
		if r.ID != nil && *r.ID != p.ChargingProfile.ID {
			continue
		}
		if c := r.Criteria; c != nil && ((c.EVSEID != nil && *c.EVSEID != p.EVSEID) ||
			(c.Purpose != nil && *c.Purpose != p.ChargingProfile.ChargingProfilePurpose) ||
			(c.StackLevel != nil && *c.StackLevel != p.ChargingProfile.StackLevel)) {
			continue
		}
		if err := docs.DeleteDoc(ctx, d.Kind, d.ID); err != nil {
			return err
		}
	}
	return nil
}

// variablesSet writes the values a station accepted (SetVariables
// results Accepted or RebootRequired) into its stored device model, so
// that it shows what the station now holds.
func (e Effects) variablesSet(ctx context.Context, chargerID string, request, response json.RawMessage) error {
	var req SetVariablesReq
	var conf SetVariablesConf
	if json.Unmarshal(request, &req) != nil || json.Unmarshal(response, &conf) != nil {
		return nil
	}
	docs, err := e.Svc.Docs()
	if err != nil {
		return nil
	}
	defer dmLocks.lock(chargerID)()
	d, err := docs.GetDoc(ctx, charging.DocDeviceModel, chargerID)
	if errors.Is(err, charging.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var dm charging.DeviceModel
	if err := json.Unmarshal(d.Body, &dm); err != nil {
		return err
	}
	changed := false
	for i, set := range req.SetVariableData {
		if i >= len(conf.SetVariableResult) || (conf.SetVariableResult[i].AttributeStatus != "Accepted" && conf.SetVariableResult[i].AttributeStatus != "RebootRequired") {
			continue
		}
		if set.Component.Name == "SecurityCtrlr" && set.Variable.Name == "BasicAuthPassword" {
			continue // a secret is never stored, whatever the station reported
		}
		typ := set.AttributeType
		if typ == "" {
			typ = "Actual"
		}
		for vi := range dm.Variables {
			v := &dm.Variables[vi]
			if v.Component != set.Component.Name || v.ComponentInstance != set.Component.Instance ||
				v.Variable != set.Variable.Name || v.VariableInstance != set.Variable.Instance ||
				(set.Component.EVSE != nil && (v.EVSE == nil || *v.EVSE != set.Component.EVSE.ID)) {
				continue
			}
			for ai := range v.Attributes {
				if a := &v.Attributes[ai]; a.Type == typ && a.Mutability != "WriteOnly" {
					val := set.AttributeValue
					a.Value, changed = &val, true
				}
			}
		}
	}
	if !changed {
		return nil
	}
	body, err := json.Marshal(dm)
	if err != nil {
		return err
	}
	return docs.PutDoc(ctx, charging.Doc{Kind: charging.DocDeviceModel, ID: chargerID, Owner: chargerID, Body: body, Updated: e.Svc.Clock().Now().UTC()})
}
