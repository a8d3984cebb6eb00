package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// A forwarded command is a request on cb.cmd.<node id>; the holding node
// answers with a reply. Both are JSON.
type request struct {
	Op      string `json:"op"`
	Charger string `json:"charger"`
	// Deadline is the caller's, when it has one: the holding node gives
	// up then too.
	Deadline time.Time       `json:"deadline,omitzero"`
	Command  json.RawMessage `json:"command"`
	// SentAt is when the calling node sent it (its clock), for the
	// forward's timing spans.
	SentAt time.Time `json:"sent_at,omitzero"`
}

type reply struct {
	Result charging.CommandResult `json:"result"`
	// Response is a raw message's answer.
	Response json.RawMessage `json:"response,omitempty"`
	Error    *wireError      `json:"error,omitempty"`
	// NotHere says the node does not hold the charger (the sender's
	// presence copy lagged): the command did not run; Error says not
	// connected.
	NotHere bool `json:"not_here,omitempty"`
	// Spans is how the holding node spent the command's time.
	Spans *holderSpans `json:"spans,omitempty"`
}

// holderSpans are the holding node's part of a forwarded command:
// when it received the request and sent the answer (its clock), how long
// the command waited for a turn and how long it ran.
type holderSpans struct {
	Received time.Time     `json:"received"`
	Answered time.Time     `json:"answered"`
	Queued   time.Duration `json:"queued_ns"`
	Run      time.Duration `json:"run_ns"`
}

// wireError is a command error on the wire: its text, every core error it
// matches, and the charger's answer a Rejection or a ChargerError
// carries, so that errors.Is and errors.As on the calling node see what
// they would see on the holding node.
type wireError struct {
	Message   string                  `json:"message"`
	Kinds     []string                `json:"kinds,omitempty"`
	Rejection *charging.CommandResult `json:"rejection,omitempty"`
	Charger   *chargerError           `json:"charger_error,omitempty"`
}

type chargerError struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

// wireKinds names the errors that cross the wire by identity: every
// command error of the core (a test checks), and the context's.
var wireKinds = []struct {
	name string
	err  error
}{
	{"not_connected", charging.ErrNotConnected},
	{"timeout", charging.ErrTimeout},
	{"rejected", charging.ErrRejected},
	{"charger_error", charging.ErrChargerError},
	{"invalid_answer", charging.ErrInvalidAnswer},
	{"not_supported", charging.ErrNotSupported},
	{"invalid_input", charging.ErrInvalidInput},
	{"not_found", charging.ErrNotFound},
	{"conflict", charging.ErrConflict},
	{"deadline_exceeded", context.DeadlineExceeded},
	{"canceled", context.Canceled},
}

func encodeError(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Message: err.Error()}
	var rej *charging.Rejection
	if errors.As(err, &rej) {
		r := rej.Result
		w.Rejection = &r
	}
	var ce *charging.ChargerError
	if errors.As(err, &ce) {
		w.Charger = &chargerError{Code: ce.Code, Description: ce.Description}
	}
	for _, k := range wireKinds {
		if errors.Is(err, k.err) {
			w.Kinds = append(w.Kinds, k.name)
		}
	}
	return w
}

// remoteError is an error the holding node answered: the same text, and
// the same identity for errors.Is and errors.As.
type remoteError struct {
	msg  string
	errs []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.errs }

func (w *wireError) decode() error {
	if w == nil {
		return nil
	}
	e := &remoteError{msg: w.Message}
	if w.Rejection != nil {
		e.errs = append(e.errs, &charging.Rejection{Result: *w.Rejection})
	}
	if w.Charger != nil {
		e.errs = append(e.errs, &charging.ChargerError{Code: w.Charger.Code, Description: w.Charger.Description})
	}
	for _, name := range w.Kinds {
		for _, k := range wireKinds {
			if k.name == name {
				e.errs = append(e.errs, k.err)
			}
		}
	}
	return e
}
