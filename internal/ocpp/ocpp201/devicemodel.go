package ocpp201

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp/ocpp16"
)

// The device model: after a station's first accepted boot the CSMS asks
// for its full inventory (GetBaseReport FullInventory); the station sends
// it in NotifyReport parts, which are kept in the charger's
// charging.DocDeviceModel document.

// dmLocks serializes the read-modify-writes of one charger's device model
// document: the parts of a report (the station's goroutine) and the answer
// to the request (the requester's) touch the same document. Per charger,
// not one lock for all: each holder waits for a commit, and a fleet's
// reports after a restart serialized behind one lock held calls of
// hundreds of stations for seconds (saturation-201, BENCHMARKS.md).
var dmLocks keyedLocks

// keyedLocks is a mutex per key, held only while in use.
type keyedLocks struct {
	// mu guards m.
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	mu sync.Mutex
	// users counts the holders and waiters; the entry goes at zero.
	users int
}

// lock locks key's mutex and returns its unlock.
func (k *keyedLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedLock)
	}
	l := k.m[key]
	if l == nil {
		l = &keyedLock{}
		k.m[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// notifyReportReq is NotifyReportRequest.
type notifyReportReq struct {
	RequestID   int          `json:"requestId"`
	GeneratedAt time.Time    `json:"generatedAt"`
	Tbc         bool         `json:"tbc"`
	SeqNo       int          `json:"seqNo"`
	ReportData  []reportData `json:"reportData"`
}

type reportData struct {
	Component         Component `json:"component"`
	Variable          Variable  `json:"variable"`
	VariableAttribute []struct {
		Type       string  `json:"type"`
		Value      *string `json:"value"`
		Mutability string  `json:"mutability"`
	} `json:"variableAttribute"`
	Characteristics *struct {
		Unit       string `json:"unit"`
		DataType   string `json:"dataType"`
		ValuesList string `json:"valuesList"`
	} `json:"variableCharacteristics"`
}

// notifyReport folds one NotifyReport part into the charger's device
// model: a part of another request starts the model afresh.
func (h *Handler) notifyReport(ctx context.Context, id string, payload []byte) error {
	var m notifyReportReq
	if err := Decode(payload, &m); err != nil {
		return err
	}
	docs, err := h.svc.Docs()
	if err != nil {
		return nil // a store without documents keeps no device model
	}
	defer dmLocks.lock(id)()
	var dm charging.DeviceModel
	d, err := docs.GetDoc(ctx, charging.DocDeviceModel, id)
	switch {
	case err == nil:
		if err := json.Unmarshal(d.Body, &dm); err != nil {
			return fmt.Errorf("device model of %s: %w", id, err)
		}
	case !errors.Is(err, charging.ErrNotFound):
		return fmt.Errorf("device model of %s: %w", id, err)
	}
	if dm.RequestID != m.RequestID || dm.Complete {
		dm = charging.DeviceModel{RequestID: m.RequestID, RequestedAt: dm.RequestedAt, Status: dm.Status}
	}
	for _, r := range m.ReportData {
		v := charging.DeviceVariable{Component: r.Component.Name, ComponentInstance: r.Component.Instance,
			Variable: r.Variable.Name, VariableInstance: r.Variable.Instance}
		if e := r.Component.EVSE; e != nil {
			evse := e.ID
			v.EVSE, v.Connector = &evse, e.ConnectorID
		}
		for _, a := range r.VariableAttribute {
			typ, mut := a.Type, a.Mutability
			if typ == "" {
				typ = "Actual" // the schema's defaults
			}
			if mut == "" {
				mut = "ReadWrite"
			}
			v.Attributes = append(v.Attributes, charging.VariableAttribute{Type: typ, Value: a.Value, Mutability: mut})
		}
		if c := r.Characteristics; c != nil {
			v.Unit, v.DataType, v.ValuesList = c.Unit, c.DataType, c.ValuesList
		}
		dm.Variables = append(dm.Variables, v)
	}
	gen := m.GeneratedAt.UTC()
	dm.GeneratedAt = &gen
	dm.Parts++
	dm.Complete = !m.Tbc
	if dm.Variables == nil {
		dm.Variables = []charging.DeviceVariable{}
	}
	body, err := json.Marshal(dm)
	if err != nil {
		return err
	}
	if err := docs.PutDoc(ctx, charging.Doc{Kind: charging.DocDeviceModel, ID: id, Owner: id, Body: body, Updated: h.svc.Clock().Now().UTC()}); err != nil {
		return err
	}
	// A connector's ConnectorType is also its plug in the core (OCPI
	// publishes each connector's standard from it).
	for _, r := range m.ReportData {
		e := r.Component.EVSE
		if r.Component.Name != "Connector" || r.Variable.Name != "ConnectorType" || e == nil || e.ConnectorID == nil {
			continue
		}
		for _, a := range r.VariableAttribute {
			if (a.Type != "" && a.Type != "Actual") || a.Value == nil {
				continue
			}
			if plug, cable, ok := PlugOf(*a.Value); ok {
				if err := h.svc.ConnectorPlug(ctx, charging.Connector{ChargerID: id, ConnectorID: e.ID, EVSEConnectorID: *e.ConnectorID,
					Plug: plug, Cable: cable}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// PlugOf maps a ConnectorEnumType (the device model's
// Connector.ConnectorType: c… a fixed cable, s… a socket) onto the core's
// plug types; ok is false for a type the core has no word for (Other…,
// wInductive, Undetermined, Unknown).
func PlugOf(connectorType string) (plug charging.PlugType, cable, ok bool) {
	switch connectorType {
	case "cCCS1":
		return charging.PlugCCS1, true, true
	case "cCCS2":
		return charging.PlugCCS2, true, true
	case "cG105":
		return charging.PlugCHAdeMO, true, true
	case "cTesla":
		return charging.PlugTesla, true, true
	case "cType1":
		return charging.PlugType1, true, true
	case "cType2":
		return charging.PlugType2, true, true
	case "sType2":
		return charging.PlugType2, false, true
	case "sType3":
		return charging.PlugType3, false, true
	case "s309-1P-16A":
		return charging.PlugIEC60309P1, false, true
	case "s309-3P-16A":
		return charging.PlugIEC60309P3, false, true
	case "s309-3P-32A":
		return charging.PlugIEC60309L3, false, true
	case "sCEE-7-7":
		return charging.PlugSchuko, false, true
	case "Pan":
		return charging.PlugPantograph, true, true
	}
	return "", false, false
}

// RequestBaseReport asks a station that has no device model yet for its
// full inventory. The request is recorded first (the parts may come before
// the answer is read); a station that could not be reached is asked again
// at its next boot, one that answered anything is not.
func RequestBaseReport(ctx context.Context, svc *charging.Service, cmd *ocpp16.Commander, chargerID string, log *slog.Logger) {
	docs, err := svc.Docs()
	if err != nil {
		return
	}
	if _, err := docs.GetDoc(ctx, charging.DocDeviceModel, chargerID); !errors.Is(err, charging.ErrNotFound) {
		return // asked before (or the store failed: ask at the next boot)
	}
	reqID := 1 + rand.IntN(1<<30)
	dm := charging.DeviceModel{RequestID: reqID, RequestedAt: svc.Clock().Now().UTC(), Variables: []charging.DeviceVariable{}}
	put := func(dm charging.DeviceModel) error {
		body, _ := json.Marshal(dm)
		return docs.PutDoc(ctx, charging.Doc{Kind: charging.DocDeviceModel, ID: chargerID, Owner: chargerID, Body: body, Updated: svc.Clock().Now().UTC()})
	}
	if err := put(dm); err != nil {
		log.Warn("device model not requested", "charger", chargerID, "err", err)
		return
	}
	body, _ := json.Marshal(map[string]any{"requestId": reqID, "reportBase": "FullInventory"})
	res, err := cmd.Send(ctx, chargerID, "GetBaseReport", body, "device model")
	if err != nil {
		var ce *charging.ChargerError
		if errors.As(ocpp16.CoreError(err), &ce) {
			err = nil // it answered (NotSupported, …): do not ask again
			res, _ = json.Marshal(map[string]string{"status": ce.Code})
		} else {
			log.Info("device model not requested; asking again at the next boot", "charger", chargerID, "err", err)
			_ = docs.DeleteDoc(context.WithoutCancel(ctx), charging.DocDeviceModel, chargerID)
			return
		}
	}
	var conf struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(res, &conf)
	// Parts may have come in meanwhile: set the status on the fresh copy.
	defer dmLocks.lock(chargerID)()
	d, err := docs.GetDoc(ctx, charging.DocDeviceModel, chargerID)
	if err == nil && json.Unmarshal(d.Body, &dm) == nil {
		dm.Status = conf.Status
		if conf.Status == "EmptyResultSet" {
			dm.Complete = true
		}
		if err := put(dm); err != nil {
			log.Warn("device model status not kept", "charger", chargerID, "err", err)
		}
	}
	log.Info("device model requested", "charger", chargerID, "status", conf.Status)
}
