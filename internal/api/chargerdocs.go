package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// chargerDocs lists a charger's documents of one kind (charging profiles
// and availability requests are stored by the command path).
func (a *API) chargerDocs(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		docs, err := a.svc.Docs()
		if err != nil {
			a.fail(w, err)
			return
		}
		list, _, err := docs.ListDocs(r.Context(), charging.DocQuery{Kind: kind, Owner: r.PathValue("id"), Limit: 1000})
		if err != nil {
			a.fail(w, err)
			return
		}
		items := make([]json.RawMessage, 0, len(list))
		for _, d := range list {
			items = append(items, d.Body)
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
	}
}

// localList shows the local authorization list last sent to a charger,
// with its version.
func (a *API) localList(w http.ResponseWriter, r *http.Request) {
	docs, err := a.svc.Docs()
	if err != nil {
		a.fail(w, err)
		return
	}
	d, err := docs.GetDoc(r.Context(), charging.DocLocalList, r.PathValue("id"))
	if errors.Is(err, charging.ErrNotFound) {
		writeJSON(w, http.StatusOK, map[string]any{"version": 0, "entries": map[string]any{}})
		return
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(d.Body)
}

// violations lists what the charger sent against the specification and
// what was done with it (tolerated, refused, flagged), per kind: the
// per-charger tolerance log.
func (a *API) violations(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := a.svc.Store().GetCharger(r.Context(), id); err != nil {
		a.fail(w, err)
		return
	}
	recs, err := a.svc.Violations(r.Context(), id)
	if err != nil {
		a.fail(w, err)
		return
	}
	if recs == nil {
		recs = []charging.ViolationRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": recs})
}

// getTolerance shows a charger's tolerance switch.
func (a *API) getTolerance(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := a.svc.Store().GetCharger(r.Context(), id); err != nil {
		a.fail(w, err)
		return
	}
	t, err := a.svc.LoadTolerance(r.Context(), id)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// putTolerance switches a charger's tolerance: {"tolerate": true} accepts
// what the schema refuses only for a known quirk (an over-long string, an
// unknown enum value), recording it as tolerated.
func (a *API) putTolerance(w http.ResponseWriter, r *http.Request) {
	var q struct {
		Tolerate *bool `json:"tolerate"`
	}
	if err := decodeBody(r, &q); err != nil {
		a.fail(w, err)
		return
	}
	if q.Tolerate == nil {
		a.fail(w, fmt.Errorf("%w: tolerate (true or false) is required", charging.ErrInvalidInput))
		return
	}
	t := charging.Tolerance{ChargerID: r.PathValue("id"), Tolerate: *q.Tolerate}
	if err := a.svc.SetTolerance(r.Context(), t); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// variables shows the device model a charger reported (OCPP 2.0.1
// NotifyReport), its variables filtered by ?q= (a substring of a
// component's or variable's name or instance, any case).
func (a *API) variables(w http.ResponseWriter, r *http.Request) {
	dm, err := DeviceModel(r.Context(), a.svc, r.PathValue("id"), r.URL.Query().Get("q"))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, dm)
}

// DeviceModel reads a charger's device model with the variables matching
// q; ErrNotFound when it reported none (1.6 chargers never do).
func DeviceModel(ctx context.Context, svc *charging.Service, chargerID, q string) (charging.DeviceModel, error) {
	docs, err := svc.Docs()
	if err != nil {
		return charging.DeviceModel{}, err
	}
	d, err := docs.GetDoc(ctx, charging.DocDeviceModel, chargerID)
	if errors.Is(err, charging.ErrNotFound) {
		return charging.DeviceModel{}, fmt.Errorf("%w: charger %s has reported no device model (OCPP 2.0.1 stations are asked for theirs after their first boot)", charging.ErrNotFound, chargerID)
	}
	if err != nil {
		return charging.DeviceModel{}, err
	}
	var dm charging.DeviceModel
	if err := json.Unmarshal(d.Body, &dm); err != nil {
		return charging.DeviceModel{}, fmt.Errorf("device model of %s: %w", chargerID, err)
	}
	kept := dm.Variables[:0]
	for _, v := range dm.Variables {
		if v.Matches(q) {
			kept = append(kept, v)
		}
	}
	dm.Variables = kept
	return dm, nil
}

// setVariableRequest sets one variable of a charger's device model.
type setVariableRequest struct {
	Component         string `json:"component"`
	ComponentInstance string `json:"component_instance"`
	EVSEID            *int   `json:"evse_id"`
	Variable          string `json:"variable"`
	VariableInstance  string `json:"variable_instance"`
	Value             string `json:"value"`
}

// setVariable sets one variable of a station that reported a device model
// (SetVariables, through the raw command path: validated, logged, and the
// stored model updated when accepted) and answers the station's result for
// it: Accepted, Rejected, UnknownComponent, UnknownVariable,
// NotSupportedAttributeType or RebootRequired.
func (a *API) setVariable(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var q setVariableRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&q); err != nil {
		a.fail(w, invalid("body: %v", err))
		return
	}
	if q.Component == "" || q.Variable == "" {
		a.fail(w, invalid("set a variable with component, variable and value"))
		return
	}
	if a.commander == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "commands are not available on this server"})
		return
	}
	if _, err := DeviceModel(r.Context(), a.svc, id, ""); errors.Is(err, charging.ErrNotFound) {
		a.fail(w, fmt.Errorf("%w: charger %s reported no device model: variables are set on OCPP 2.0.1 stations (1.6: ChangeConfiguration)", charging.ErrConflict, id))
		return
	} else if err != nil {
		a.fail(w, err)
		return
	}
	comp := map[string]any{"name": q.Component}
	if q.ComponentInstance != "" {
		comp["instance"] = q.ComponentInstance
	}
	if q.EVSEID != nil {
		comp["evse"] = map[string]int{"id": *q.EVSEID}
	}
	variable := map[string]any{"name": q.Variable}
	if q.VariableInstance != "" {
		variable["instance"] = q.VariableInstance
	}
	body, _ := json.Marshal(map[string]any{"setVariableData": []any{map[string]any{"attributeValue": q.Value, "component": comp, "variable": variable}}})
	res, err := a.commander.Send(r.Context(), id, "SetVariables", body, requestedBy(r))
	if err != nil {
		a.commandFailed(w, r, id, err, res)
		return
	}
	var conf struct {
		Results []struct {
			Status     string          `json:"attributeStatus"`
			StatusInfo json.RawMessage `json:"attributeStatusInfo,omitempty"`
		} `json:"setVariableResult"`
	}
	if err := json.Unmarshal(res, &conf); err != nil || len(conf.Results) != 1 {
		a.commandFailed(w, r, id, fmt.Errorf("%w: SetVariables answered %d results for one variable", charging.ErrInvalidAnswer, len(conf.Results)), res)
		return
	}
	out := map[string]any{"status": conf.Results[0].Status}
	if len(conf.Results[0].StatusInfo) > 0 {
		out["status_info"] = conf.Results[0].StatusInfo
	}
	writeJSON(w, http.StatusOK, out)
}
