// Package charging is chargebridge's domain core: charge points, connectors,
// id tags, charging sessions and their meter samples, the session status
// machine, and the events other parts of the system follow.
//
// It keeps one canonical session per transaction; the OCPP, OCPI and Beckn
// adapters translate to and from it at the edges. The package imports no
// protocol, HTTP or SQL package (deps_test.go enforces this): adapters call
// the Service, and the Service reaches storage through the small interfaces
// declared in store.go.
package charging
