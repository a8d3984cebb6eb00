package ocpp16

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp"
)

// CoreEffects carries answered commands into the session core.
type CoreEffects struct {
	Svc *charging.Service
	// PendingTimeout closes a remote start the charger accepted but never
	// followed with a StartTransaction.
	PendingTimeout time.Duration
}

var _ Effects = CoreEffects{}

type statusConf struct {
	Status string `json:"status"`
}

// CommandAnswered applies the meaning of an accepted command.
func (e CoreEffects) CommandAnswered(ctx context.Context, chargerID, action string, request, response json.RawMessage) error {
	var conf statusConf
	_ = json.Unmarshal(response, &conf)
	switch action {
	case "RemoteStartTransaction":
		if conf.Status != "Accepted" {
			return nil
		}
		var r struct {
			ConnectorID *int   `json:"connectorId"`
			IDTag       string `json:"idTag"`
		}
		if err := json.Unmarshal(request, &r); err != nil {
			return err
		}
		conn := 0 // the charger picks the connector
		if r.ConnectorID != nil {
			conn = *r.ConnectorID
		}
		_, err := e.Svc.RemoteStartAccepted(ctx, chargerID, conn, r.IDTag, e.PendingTimeout)
		return err
	case "RemoteStopTransaction":
		if conf.Status != "Accepted" {
			return nil
		}
		var r struct {
			TransactionID int64 `json:"transactionId"`
		}
		if err := json.Unmarshal(request, &r); err != nil {
			return err
		}
		return e.Svc.RemoteStopAccepted(ctx, chargerID, strconv.FormatInt(r.TransactionID, 10))
	case "ReserveNow":
		if conf.Status != "Accepted" {
			return nil
		}
		var r struct {
			ConnectorID   int    `json:"connectorId"`
			ExpiryDate    string `json:"expiryDate"`
			IDTag         string `json:"idTag"`
			ReservationID int64  `json:"reservationId"`
		}
		if err := json.Unmarshal(request, &r); err != nil {
			return err
		}
		exp, _, err := ocpp.ParseTimestamp(r.ExpiryDate)
		if err != nil {
			return err
		}
		_, err = e.Svc.ReservationAccepted(ctx, charging.Reservation{ChargerID: chargerID, ConnectorID: r.ConnectorID,
			ReservationID: r.ReservationID, IDTag: r.IDTag, ExpiresAt: exp})
		return err
	case "CancelReservation":
		if conf.Status != "Accepted" {
			return nil
		}
		var r struct {
			ReservationID int64 `json:"reservationId"`
		}
		if err := json.Unmarshal(request, &r); err != nil {
			return err
		}
		return e.Svc.ReservationCancelled(ctx, chargerID, r.ReservationID)
	case "ChangeAvailability":
		if conf.Status == "Rejected" {
			return nil
		}
		var r struct {
			ConnectorID int    `json:"connectorId"`
			Type        string `json:"type"`
		}
		if err := json.Unmarshal(request, &r); err != nil {
			return err
		}
		body, _ := json.Marshal(map[string]any{"connector_id": r.ConnectorID, "type": r.Type, "status": conf.Status, "requested_at": e.Svc.Clock().Now().UTC()})
		return e.putDoc(ctx, charging.DocAvailability, chargerID+"/"+strconv.Itoa(r.ConnectorID), chargerID, body)
	case "SendLocalList":
		if conf.Status != "Accepted" {
			return nil
		}
		return e.localList(ctx, chargerID, request)
	case "SetChargingProfile":
		if conf.Status != "Accepted" {
			return nil
		}
		var r struct {
			ConnectorID int `json:"connectorId"`
			Profile     struct {
				ChargingProfileID int `json:"chargingProfileId"`
			} `json:"csChargingProfiles"`
		}
		if err := json.Unmarshal(request, &r); err != nil {
			return err
		}
		return e.putDoc(ctx, charging.DocChargingProfile, fmt.Sprintf("%s/%d/%d", chargerID, r.ConnectorID, r.Profile.ChargingProfileID), chargerID, request)
	case "ClearChargingProfile":
		if conf.Status != "Accepted" {
			return nil
		}
		return e.clearProfiles(ctx, chargerID, request)
	}
	return nil
}

func (e CoreEffects) putDoc(ctx context.Context, kind, id, owner string, body []byte) error {
	docs, err := e.Svc.Docs()
	if err != nil {
		return err
	}
	return docs.PutDoc(ctx, charging.Doc{Kind: kind, ID: id, Owner: owner, Body: body, Updated: e.Svc.Clock().Now().UTC()})
}

// LocalList is a charger's local authorization list as last sent.
type LocalList struct {
	Version int                        `json:"version"`
	Entries map[string]json.RawMessage `json:"entries"`
}

// localList applies a SendLocalList: Full replaces the list, Differential
// adds, updates and (entries without idTagInfo) removes.
func (e CoreEffects) localList(ctx context.Context, chargerID string, request json.RawMessage) error {
	var r struct {
		ListVersion int    `json:"listVersion"`
		UpdateType  string `json:"updateType"`
		List        []struct {
			IDTag     string          `json:"idTag"`
			IDTagInfo json.RawMessage `json:"idTagInfo"`
		} `json:"localAuthorizationList"`
	}
	if err := json.Unmarshal(request, &r); err != nil {
		return err
	}
	docs, err := e.Svc.Docs()
	if err != nil {
		return err
	}
	list := LocalList{Entries: map[string]json.RawMessage{}}
	if r.UpdateType == "Differential" {
		if d, err := docs.GetDoc(ctx, charging.DocLocalList, chargerID); err == nil {
			_ = json.Unmarshal(d.Body, &list)
			if list.Entries == nil {
				list.Entries = map[string]json.RawMessage{}
			}
		}
	}
	list.Version = r.ListVersion
	for _, en := range r.List {
		if len(en.IDTagInfo) == 0 || string(en.IDTagInfo) == "null" {
			delete(list.Entries, en.IDTag)
			continue
		}
		list.Entries[en.IDTag] = en.IDTagInfo
	}
	body, err := json.Marshal(list)
	if err != nil {
		return err
	}
	return e.putDoc(ctx, charging.DocLocalList, chargerID, chargerID, body)
}

// clearProfiles removes the stored profiles a ClearChargingProfile matched.
func (e CoreEffects) clearProfiles(ctx context.Context, chargerID string, request json.RawMessage) error {
	var r struct {
		ID          *int    `json:"id"`
		ConnectorID *int    `json:"connectorId"`
		Purpose     *string `json:"chargingProfilePurpose"`
		StackLevel  *int    `json:"stackLevel"`
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
		var p struct {
			ConnectorID int `json:"connectorId"`
			Profile     struct {
				ID         int    `json:"chargingProfileId"`
				Purpose    string `json:"chargingProfilePurpose"`
				StackLevel int    `json:"stackLevel"`
			} `json:"csChargingProfiles"`
		}
		if json.Unmarshal(d.Body, &p) != nil {
			continue
		}
		if (r.ID != nil && *r.ID != p.Profile.ID) || (r.ConnectorID != nil && *r.ConnectorID != p.ConnectorID) ||
			(r.Purpose != nil && *r.Purpose != p.Profile.Purpose) || (r.StackLevel != nil && *r.StackLevel != p.Profile.StackLevel) {
			continue
		}
		if err := docs.DeleteDoc(ctx, d.Kind, d.ID); err != nil {
			return err
		}
	}
	return nil
}
