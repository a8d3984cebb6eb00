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
