package charging

import (
	"strings"
	"time"
)

// DocDeviceModel is the document kind of a charger's device model: the
// components and variables it reported (OCPP 2.0.1 NotifyReport after a
// GetBaseReport), one document per charger, id = charger id.
const DocDeviceModel = "device_model"

// DeviceModel is a charger's reported device model.
type DeviceModel struct {
	// RequestID is the report's request id; a report with another one
	// replaces the variables.
	RequestID int `json:"request_id"`
	// RequestedAt is when the central system asked for the report, and
	// Status the charger's answer (Accepted, Rejected, NotSupported,
	// EmptyResultSet; "" while it has not answered).
	RequestedAt time.Time `json:"requested_at"`
	Status      string    `json:"status,omitempty"`
	// GeneratedAt is the generation time of the last part received.
	GeneratedAt *time.Time `json:"generated_at,omitempty"`
	// Parts counts the parts received; Complete is true once the last
	// one (not "to be continued") came.
	Parts     int              `json:"parts"`
	Complete  bool             `json:"complete"`
	Variables []DeviceVariable `json:"variables"`
}

// DeviceVariable is one variable of one component, with its attributes.
type DeviceVariable struct {
	Component         string              `json:"component"`
	ComponentInstance string              `json:"component_instance,omitempty"`
	EVSE              *int                `json:"evse_id,omitempty"`
	Connector         *int                `json:"connector_id,omitempty"`
	Variable          string              `json:"variable"`
	VariableInstance  string              `json:"variable_instance,omitempty"`
	Attributes        []VariableAttribute `json:"attributes"`
	// Unit, DataType and ValuesList are the variable's characteristics,
	// when reported.
	Unit       string `json:"unit,omitempty"`
	DataType   string `json:"data_type,omitempty"`
	ValuesList string `json:"values_list,omitempty"`
}

// VariableAttribute is one attribute (Actual, Target, MinSet, MaxSet) of a
// variable.
type VariableAttribute struct {
	Type       string  `json:"type"`
	Value      *string `json:"value,omitempty"`
	Mutability string  `json:"mutability"`
}

// Matches reports whether the variable's component or variable name (or
// instance) contains q, case-insensitively; "" matches every variable.
func (v DeviceVariable) Matches(q string) bool {
	if q == "" {
		return true
	}
	q = strings.ToLower(q)
	for _, s := range []string{v.Component, v.ComponentInstance, v.Variable, v.VariableInstance} {
		if strings.Contains(strings.ToLower(s), q) {
			return true
		}
	}
	return false
}
