// Package ocpp implements the OCPP-J RPC layer shared by every OCPP version:
// the CALL / CALLRESULT / CALLERROR frames, the RPC error codes, JSON schema
// validation of payloads, and the WebSocket server that holds one connection
// per charger, handles its calls in order and correlates the calls the central
// system sends it.
//
// Version-specific messages and handlers live in the subpackages (ocpp16, and
// later ocpp201); they plug into Server as a Handler per subprotocol.
package ocpp
