// Package bench is the load benchmark behind `chargebridge bench`: it starts
// a chargebridge server as a child process on loopback, drives it with
// simulated chargers spread over several worker processes (a process here
// may hold at most 20 000 open files) and source addresses 127.0.0.x, and
// reports chargers held, calls per second accepted with durable storage,
// CALL → CALLRESULT latency and server memory per connected charger. The
// same scenarios run against a minimal WebSocket server that answers every
// CALL with an empty CALLRESULT, the ceiling of the machine.
//
// With Options.Generator GeneratorExternal (`bench --generator external`)
// the workers drive both servers with internal/bench/extgen instead of the
// simulator: an OCPP 1.6J load generator on gorilla/websocket that shares
// no code with the server, so that the figures do not rest on the server
// and its load generator agreeing by construction.
//
// With Options.Nodes (`bench --nodes N`) the server is N serve processes
// forming a cluster on a fresh PostgreSQL schema and a NATS server of the
// run's own; each charger connects to the node its id picks, and the report
// adds per node the chargers held, RSS and RSS per charger, and the latency
// of operator commands sent to the node that holds the charger and to
// another one (forwarded over NATS).
package bench
