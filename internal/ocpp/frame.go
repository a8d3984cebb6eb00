package ocpp

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
)

// MessageType is the first element of an OCPP-J frame.
type MessageType int

// The OCPP-J message types.
const (
	Call       MessageType = 2
	CallResult MessageType = 3
	CallError  MessageType = 4
)

// MaxMessageIDLength is the longest unique id OCPP-J allows (36 characters).
const MaxMessageIDLength = 36

// Frame is one decoded OCPP-J message.
type Frame struct {
	Type MessageType
	ID   string
	// Action is set for a CALL.
	Action string
	// Payload is the CALL's or CALLRESULT's payload, verbatim.
	Payload json.RawMessage
	// ErrorCode, ErrorDescription and ErrorDetails are set for a CALLERROR.
	ErrorCode        ErrorCode
	ErrorDescription string
	ErrorDetails     json.RawMessage
}

// FrameError is returned by ParseFrame for input that is not a valid OCPP-J
// frame. ID holds the message id when it could still be read, so the caller
// can answer with a CALLERROR; it is empty otherwise.
type FrameError struct {
	ID     string
	Code   ErrorCode
	Reason string
}

func (e *FrameError) Error() string { return "invalid ocpp-j frame: " + e.Reason }

// callIDPattern reads a CALL's message id out of a frame that is not valid
// JSON, so that even a mangled frame can be answered.
var callIDPattern = regexp.MustCompile(`^\s*\[\s*2\s*,\s*"([^"\\]{1,36})"`)

// ParseFrame decodes one OCPP-J frame. It never panics; on failure it returns
// a *FrameError. Payloads are returned as slices of data, not copies.
func ParseFrame(data []byte) (Frame, error) {
	var f Frame
	// One pass reads the elements and checks the syntax: the array's
	// elements are skipped at depth 1, as skipping the whole frame would.
	s := &scanner{b: data}
	var spans [6][]byte
	n := 0
	valid := false
	if s.peek() == '[' {
		s.i++
		valid = true
		if !s.expect(']') {
			for {
				s.ws()
				start := s.i
				if s.skip(1) != nil {
					valid = false
					break
				}
				if n < len(spans) {
					spans[n] = data[start:s.i]
				}
				n++
				if s.expect(']') {
					break
				}
				if !s.expect(',') {
					valid = false
					break
				}
			}
		}
		valid = valid && s.end()
	} else if s.skip(0) == nil && s.end() {
		return f, &FrameError{Code: FormationViolation, Reason: "not a JSON array"}
	}
	if !valid {
		fe := &FrameError{Code: FormationViolation, Reason: "not valid JSON"}
		if m := callIDPattern.FindSubmatch(data); m != nil {
			fe.ID = string(m[1])
		}
		return f, fe
	}
	if n < 3 {
		return f, &FrameError{Code: ProtocolError, Reason: fmt.Sprintf("frame has %d elements, want at least 3", n)}
	}
	typ, err := strconv.Atoi(string(spans[0]))
	if err != nil {
		return f, &FrameError{Code: FormationViolation, Reason: "message type is not an integer"}
	}
	f.Type = MessageType(typ)
	if f.ID, err = jsonString(spans[1]); err != nil {
		return f, &FrameError{Code: FormationViolation, Reason: "message id is not a string"}
	}
	idErr := func(reason string) error {
		return &FrameError{ID: f.ID, Code: FormationViolation, Reason: reason}
	}
	if f.ID == "" || len(f.ID) > MaxMessageIDLength {
		// An over-long id is still echoed: the peer needs it to match the error.
		return f, idErr(fmt.Sprintf("message id must be 1 to %d characters, got %d", MaxMessageIDLength, len(f.ID)))
	}
	var want int
	switch f.Type {
	case Call:
		want = 4
	case CallResult:
		want = 3
	case CallError:
		want = 5
	default:
		return f, &FrameError{ID: f.ID, Code: MessageTypeNotSupported, Reason: fmt.Sprintf("unknown message type %d", typ)}
	}
	if n != want {
		return f, &FrameError{ID: f.ID, Code: ProtocolError, Reason: fmt.Sprintf("%s has %d elements, want %d", f.Type, n, want)}
	}
	switch f.Type {
	case Call:
		if f.Action, err = actionString(spans[2]); err != nil || f.Action == "" {
			return f, idErr("action is not a non-empty string")
		}
		f.Payload = spans[3]
		if !isObject(f.Payload) {
			return f, idErr("payload is not a JSON object")
		}
	case CallResult:
		f.Payload = spans[2]
		if !isObject(f.Payload) {
			return f, idErr("payload is not a JSON object")
		}
	case CallError:
		code, err := jsonString(spans[2])
		if err != nil {
			return f, idErr("error code is not a string")
		}
		f.ErrorCode = CanonicalCode(ErrorCode(code))
		if f.ErrorDescription, err = jsonString(spans[3]); err != nil {
			return f, idErr("error description is not a string")
		}
		f.ErrorDetails = spans[4]
		if !isObject(f.ErrorDetails) {
			return f, idErr("error details is not a JSON object")
		}
	}
	return f, nil
}

// String names a message type as the spec does.
func (t MessageType) String() string {
	switch t {
	case Call:
		return "CALL"
	case CallResult:
		return "CALLRESULT"
	case CallError:
		return "CALLERROR"
	}
	return "message type " + strconv.Itoa(int(t))
}

// jsonString decodes a JSON string token.
func jsonString(tok []byte) (string, error) {
	s := &scanner{b: tok}
	b, err := s.str()
	if err != nil || !s.end() {
		return "", errSyntax
	}
	return string(b), nil
}

// actionString is jsonString for an action: the ones chargers send most
// come back as constants, not as a string allocated per call.
func actionString(tok []byte) (string, error) {
	if len(tok) > 2 && tok[0] == '"' && tok[len(tok)-1] == '"' {
		switch string(tok[1 : len(tok)-1]) {
		case "MeterValues":
			return "MeterValues", nil
		case "TransactionEvent":
			return "TransactionEvent", nil
		case "Heartbeat":
			return "Heartbeat", nil
		case "StatusNotification":
			return "StatusNotification", nil
		}
	}
	return jsonString(tok)
}

func isObject(raw json.RawMessage) bool {
	s := scanner{b: raw}
	return s.peek() == '{'
}

// AppendCall appends the CALL frame [2,id,action,payload] to dst.
// payload must be a JSON object.
func AppendCall(dst []byte, id, action string, payload []byte) []byte {
	dst = append(dst, "[2,"...)
	dst = appendJSONString(dst, id)
	dst = append(dst, ',')
	dst = appendJSONString(dst, action)
	dst = append(dst, ',')
	dst = append(dst, payload...)
	return append(dst, ']')
}

// AppendCallResult appends the CALLRESULT frame [3,id,payload] to dst.
func AppendCallResult(dst []byte, id string, payload []byte) []byte {
	dst = append(dst, "[3,"...)
	dst = appendJSONString(dst, id)
	dst = append(dst, ',')
	dst = append(dst, payload...)
	return append(dst, ']')
}

// AppendCallError appends the CALLERROR frame [4,id,code,description,details] to dst.
func AppendCallError(dst []byte, id string, e *Error) []byte {
	dst = append(dst, "[4,"...)
	dst = appendJSONString(dst, id)
	dst = append(dst, ',')
	dst = appendJSONString(dst, string(e.Code))
	dst = append(dst, ',')
	dst = appendJSONString(dst, e.Description)
	dst = append(dst, ',')
	if len(e.Details) == 0 {
		dst = append(dst, "{}"...)
	} else if b, err := json.Marshal(e.Details); err == nil {
		dst = append(dst, b...)
	} else {
		dst = append(dst, "{}"...)
	}
	return append(dst, ']')
}

// appendJSONString appends s as a JSON string. Plain ASCII ids take the fast
// path; anything else goes through encoding/json, so the output is always
// valid JSON.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
