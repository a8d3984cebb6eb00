// Package security enforces the OCPP security profiles (OCPP 1.6 Security
// Whitepaper edition 3, OCPP 2.0.1 part 2 A00–A05) on a charger's WebSocket
// upgrade, keeps each charger's profile and credentials (a slow hash of its
// Basic-auth password, its client certificate's expiry), runs the built-in
// certificate authority that signs chargers' CSRs, and bounds the HTTP
// listener against abuse (connection caps per address, a reserve of file
// descriptors for the operator API). The session core knows nothing of it:
// the OCPP server asks the Guard before it upgrades, and the Guard answers
// with an *ocpp.Refusal or nil.
package security
