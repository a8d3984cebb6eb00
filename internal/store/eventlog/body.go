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
	TransactionID  txText              `json:"transaction_id,omitempty"`
	Connector      *charging.Connector `json:"connector,omitempty"`
	TariffID       string              `json:"tariff_id,omitempty"`
}

// EncodeBody returns the JSON body of e.
func EncodeBody(e charging.Event) ([]byte, error) {
	b := body{Session: e.Session, TransactionID: txText(e.TransactionID), Connector: e.Connector, TariffID: e.TariffID}
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
	var b struct {
		body
		Session *oldSession `json:"session,omitempty"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("decode %s event %s: %w", e.Kind, e.ID, err)
	}
	e.Session, e.TransactionID, e.Connector, e.TariffID = nil, string(b.TransactionID), b.Connector, b.TariffID
	if b.Session != nil {
		s := b.Session.Session
		s.TransactionID = string(b.Session.TransactionID)
		e.Session = &s
	}
	if e.Session != nil {
		e.Session.LastRegisterWh = b.LastRegisterWh
	}
	if e.Connector != nil {
		e.Connector.ChargerID = e.ChargerID
	}
	return nil
}

// txText is a transaction id in an event body. Events written before
// transaction ids were strings (unique per charger, #12) hold a JSON
// number; both read as the id's text.
type txText string

func (t *txText) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] != '"' {
		var n json.Number
		if err := json.Unmarshal(data, &n); err != nil {
			return err
		}
		if n == "0" {
			n = "" // an old body's "no transaction"
		}
		*t = txText(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	*t = txText(s)
	return nil
}

// oldSession reads a session whose transaction_id may be an old body's
// number: the shallower field wins over the embedded session's.
type oldSession struct {
	charging.Session
	TransactionID txText `json:"transaction_id"`
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
