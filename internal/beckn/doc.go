// Package beckn is chargebridge's Beckn BPP for DEG EV charging v2: the
// live EvChargingSession view of the canonical session, and (in its
// subpackages) message signing and the attribute pack's types and schema.
package beckn
