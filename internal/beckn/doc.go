// Package beckn is chargebridge's Beckn BPP for DEG EV charging v2 (core
// v2, the rc-eos dialect of the DEG examples).
//
// BPP receives POST /beckn/{action} (discover, select, init, confirm,
// status, track, update, cancel, rating, support). A request is verified
// before anything else is read: its Signature header against the BAP's key
// (a registry or a subscribers file), the key's subscriber against
// context.bap_id, the envelope, and its message_id against replays. It is
// then acknowledged at once (ACK) or refused (NACK with a Beckn v2 error
// code), and carried out in the background; the answer is POSTed, signed,
// to context.bap_uri + "/on_{action}" with the same transaction and message
// ids, and retried until the request's ttl runs out. Callbacks of one
// transaction are delivered in order.
//
// Every OCPP connector is one catalog item, "{chargerId}-{connectorId}".
// An order reserves it through the core's command port (confirm: Reserve,
// which makes the core hold a reserved session), starts and stops charging
// (update: StartCharging, StopCharging) and gives the reservation up
// (cancel: CancelReservation), whatever protocol the charger speaks. Orders are documents in the
// core's DocStore. The fulfillment's delivery attributes are the live
// EvChargingSession of the canonical session (SessionView); when the
// session starts, is interrupted or completes on its own, the BAP is told
// unsolicited, with a new message_id.
//
// Subpackages: signing (Beckn HTTP signatures and key material) and
// evsession (the EvChargingSession v2.0 attribute pack and its schema).
package beckn
