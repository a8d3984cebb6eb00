package ocpp

// appendCallError appends a CALLERROR with the code spelled the way the
// connection's OCPP version spells it (the handlers use one spelling).
func (c *Conn) appendCallError(dst []byte, id string, e *Error) []byte {
	if w := WireCode(c.protocol, e.Code); w != e.Code {
		cp := *e
		cp.Code = w
		e = &cp
	}
	return AppendCallError(dst, id, e)
}

// Protocol returns the subprotocol a connected charger negotiated, or ""
// when it is not connected.
func (s *Server) Protocol(chargerID string) string {
	if c, ok := s.Conn(chargerID); ok {
		return c.protocol
	}
	return ""
}
