// Package eventlog is what the stores' event logs share: the JSON body of
// an event row and the consuming loop (positions, wake-ups, redelivery).
// The columns of a row carry the event's id, kind, time, charger, session
// and sequence; the body carries the rest.
package eventlog

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// body is the JSON of the event fields that have no column of their own.
type body struct {
	Session *charging.Session `json:"session,omitempty"`
	// LastRegisterWh is the session's, which its own JSON leaves out (it
	// makes KWh()).
	LastRegisterWh float64             `json:"last_register_wh,omitempty"`
	TransactionID  int64               `json:"transaction_id,omitempty"`
	Connector      *charging.Connector `json:"connector,omitempty"`
	TariffID       string              `json:"tariff_id,omitempty"`
}

// EncodeBody returns the JSON body of e.
func EncodeBody(e charging.Event) ([]byte, error) {
	b := body{Session: e.Session, TransactionID: e.TransactionID, Connector: e.Connector, TariffID: e.TariffID}
	if e.Session != nil {
		b.LastRegisterWh = e.Session.LastRegisterWh
	}
	out, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode %s event %s: %w", e.Kind, e.ID, err)
	}
	return out, nil
}

// DecodeBody fills e's body fields from data; e's column fields (ChargerID
// in particular) must be set already.
func DecodeBody(data []byte, e *charging.Event) error {
	var b body
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("decode %s event %s: %w", e.Kind, e.ID, err)
	}
	e.Session, e.TransactionID, e.Connector, e.TariffID = b.Session, b.TransactionID, b.Connector, b.TariffID
	if e.Session != nil {
		e.Session.LastRegisterWh = b.LastRegisterWh
	}
	if e.Connector != nil {
		e.Connector.ChargerID = e.ChargerID
	}
	return nil
}

// Prepare gives e an id and a time when it has none, as the log stores it.
func Prepare(e *charging.Event, now func() time.Time) {
	if e.ID == "" {
		e.ID = charging.NewID()
	}
	if e.At.IsZero() {
		e.At = now()
	}
}
