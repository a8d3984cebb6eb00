// Package sim simulates OCPP 1.6J charge points and OCPP 2.0.1 charging
// stations (Config.Protocol; see ocpp201.go), for `chargebridge demo`, for
// tests of the central system and for the load benchmark.
//
// A Charger connects to ws://…/ocpp/{chargePointId} with subprotocol
// ocpp1.6, boots, reports its connectors, heartbeats, and runs charging
// sessions (Authorize, StartTransaction, MeterValues on a realistic charging
// curve, StopTransaction with transaction data) by itself or on command. It
// reconnects with backoff, keeps its transaction messages while offline and
// replays them in order, and answers the central system's commands (core
// profiles, smart charging, reservations, local list, firmware, diagnostics
// and the security extension) the way a real charger does. Faults real
// chargers show can be switched on in Config.Faults.
//
// A Fleet runs many chargers with bounded connection attempts and counts for
// all of them (Stats); in Config.Saturate mode every charger sends MeterValues
// back to back and Config.Latency collects the latency of every call.
//
// A charger holds one goroutine while connected (dialing, then reading) and
// one timer, and shares frame buffers with the others, so tens of thousands
// fit in a process.
package sim
