// Package bench is the load benchmark behind `chargebridge bench`: it starts
// a chargebridge server as a child process on loopback, drives it with
// simulated chargers spread over several worker processes (a process here
// may hold at most 20 000 open files) and source addresses 127.0.0.x, and
// reports chargers held, calls per second accepted with durable storage,
// CALL → CALLRESULT latency and server memory per connected charger. The
// same scenarios run against a minimal WebSocket server that answers every
// CALL with an empty CALLRESULT, the ceiling of the machine.
package bench
