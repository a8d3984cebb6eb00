package ocpp

import "fmt"

// ErrorCode is an OCPP-J CALLERROR code. The 1.6 names are used; OCPP 1.6
// spells OccurenceConstraintViolation with one "r", and so do we on the wire.
type ErrorCode string

// The OCPP-J 1.6 CALLERROR codes.
const (
	NotImplemented               ErrorCode = "NotImplemented"
	NotSupported                 ErrorCode = "NotSupported"
	InternalError                ErrorCode = "InternalError"
	ProtocolError                ErrorCode = "ProtocolError"
	SecurityError                ErrorCode = "SecurityError"
	FormationViolation           ErrorCode = "FormationViolation"
	PropertyConstraintViolation  ErrorCode = "PropertyConstraintViolation"
	OccurenceConstraintViolation ErrorCode = "OccurenceConstraintViolation"
	TypeConstraintViolation      ErrorCode = "TypeConstraintViolation"
	GenericError                 ErrorCode = "GenericError"
)

// Error is an RPC-level error: it becomes a CALLERROR on the wire, or is what
// a CALLERROR received from a charger decodes to.
type Error struct {
	Code        ErrorCode
	Description string
	// Details is the CALLERROR's errorDetails object; nil is sent as {}.
	Details map[string]any
}

func (e *Error) Error() string {
	if e.Description == "" {
		return string(e.Code)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Description)
}

// Errorf returns an *Error with a formatted description.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

// The codes OCPP-J 2.0.1 adds. Inside chargebridge the 1.6 spellings above
// stand for their 2.0.1 twins (FormatViolation, OccurrenceConstraintViolation);
// WireCode turns a code into the spelling of the connection's protocol.
const (
	FormatViolation               ErrorCode = "FormatViolation"
	OccurrenceConstraintViolation ErrorCode = "OccurrenceConstraintViolation"
	MessageTypeNotSupported       ErrorCode = "MessageTypeNotSupported"
	RpcFrameworkError             ErrorCode = "RpcFrameworkError"
)

// Subprotocol names of the OCPP versions chargebridge speaks.
const (
	Subprotocol16  = "ocpp1.6"
	Subprotocol201 = "ocpp2.0.1"
)

// WireCode returns code as the given subprotocol spells it: 2.0.1 says
// FormatViolation and OccurrenceConstraintViolation where 1.6 says
// FormationViolation and OccurenceConstraintViolation, and only 2.0.1 has
// MessageTypeNotSupported and RpcFrameworkError (1.6 gets ProtocolError).
func WireCode(subprotocol string, code ErrorCode) ErrorCode {
	if subprotocol == Subprotocol201 {
		switch code {
		case FormationViolation:
			return FormatViolation
		case OccurenceConstraintViolation:
			return OccurrenceConstraintViolation
		}
		return code
	}
	switch code {
	case FormatViolation:
		return FormationViolation
	case OccurrenceConstraintViolation:
		return OccurenceConstraintViolation
	case MessageTypeNotSupported, RpcFrameworkError:
		return ProtocolError
	}
	return code
}

// CanonicalCode reads a code received on the wire in chargebridge's
// spelling (the 1.6 one where the versions differ), whatever the version.
func CanonicalCode(code ErrorCode) ErrorCode {
	switch code {
	case FormatViolation:
		return FormationViolation
	case OccurrenceConstraintViolation:
		return OccurenceConstraintViolation
	}
	return code
}
