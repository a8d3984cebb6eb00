package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// SessionFinder finds the charger of a session to stop.
type SessionFinder interface {
	GetSession(ctx context.Context, id string) (charging.Session, error)
}

// Router is the core's command port on a node of a cluster: a command for
// a charger this node holds goes to the local router; one for a charger
// another node holds (its presence entry says which) is forwarded to that
// node, which runs it on its local router and answers; a charger no node
// holds gets the local router's answer (not connected), as on a single
// node.
type Router struct {
	node     *Node
	local    charging.Commands
	sessions SessionFinder
}

var _ charging.Commands = (*Router)(nil)

// NewRouter returns the cluster's command port over this node's local
// router.
func NewRouter(n *Node, local charging.Commands, sessions SessionFinder) *Router {
	return &Router{node: n, local: local, sessions: sessions}
}

// route runs a command here or forwards it to the node that holds the
// charger.
func route[C any](ctx context.Context, r *Router, op, chargerID string, c C, local func(context.Context, C) (charging.CommandResult, error)) (charging.CommandResult, error) {
	n := r.node
	if n.cfg.Local(chargerID) {
		return local(ctx, c)
	}
	body, err := json.Marshal(c)
	if err != nil {
		return charging.CommandResult{}, err
	}
	rep, forwarded, err := n.send(ctx, request{Op: op, Charger: chargerID, Command: body})
	if !forwarded {
		return local(ctx, c)
	}
	if err != nil {
		return charging.CommandResult{}, err
	}
	return rep.Result, rep.Error.decode()
}

// send forwards a command for a charger this node does not hold to the
// node that does: the one the presence copy names, or, when that one does
// not hold it (the copy lagged) or is gone, the one the presence bucket
// names. forwarded is false when no other live node holds the charger:
// the command is for the local router (which answers not connected).
func (n *Node) send(ctx context.Context, req request) (rep reply, forwarded bool, err error) {
	var tried string
	var triedRep reply
	var triedErr error
	if node, ok := n.replica.holder(req.Charger); ok && node != n.cfg.NodeID {
		triedRep, triedErr = n.forward(ctx, node, req)
		if !triedRep.NotHere && !errors.Is(triedErr, nats.ErrNoResponders) {
			return triedRep, true, triedErr
		}
		tried = node
	}
	t0 := time.Now()
	e, ok, err := n.Holder(ctx, req.Charger)
	n.observe(PhaseLookup, time.Since(t0))
	if err != nil {
		return reply{}, true, fmt.Errorf("%w: %s (which node holds it is unknown: %v)", charging.ErrNotConnected, req.Charger, err)
	}
	if !ok {
		// No record: the holder may not have written it yet.
		node, found := n.whoHolds(ctx, req.Charger)
		if !found || node == tried {
			return reply{}, false, nil
		}
		rep, err = n.forward(ctx, node, req)
		return rep, true, err
	}
	if e.Node == n.cfg.NodeID {
		return reply{}, false, nil
	}
	if e.Node == tried { // it just answered
		return triedRep, true, triedErr
	}
	rep, err = n.forward(ctx, e.Node, req)
	return rep, true, err
}

// forward sends a command to the node that holds the charger and returns
// its reply; the error is one of reaching the node, the reply's own error
// is for the caller to decode. Without a deadline of the caller's it waits as long as the
// holding node may take: its call timeout, twice (a command may send two
// calls), and a margin for the store.
func (n *Node) forward(ctx context.Context, node string, req request) (reply, error) {
	if dl, ok := ctx.Deadline(); ok {
		req.Deadline = dl
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.forwardWait())
		defer cancel()
	}
	req.SentAt = time.Now()
	body, err := json.Marshal(req)
	if err != nil {
		return reply{}, err
	}
	msg, err := n.nc.RequestWithContext(ctx, n.names.cmd+node, body)
	answered := time.Now()
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return reply{}, fmt.Errorf("%w: %s (its node %s is gone: %w)", charging.ErrNotConnected, req.Charger, node, err)
	case err != nil && ctx.Err() != nil && req.Deadline.IsZero():
		return reply{}, fmt.Errorf("%w: %s %s through node %s", charging.ErrTimeout, req.Op, req.Charger, node)
	case err != nil:
		return reply{}, fmt.Errorf("%s %s through node %s: %w", req.Op, req.Charger, node, err)
	}
	var rep reply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return reply{}, fmt.Errorf("%s %s through node %s: bad answer: %w", req.Op, req.Charger, node, err)
	}
	n.observe(PhaseRequest, answered.Sub(req.SentAt))
	if sp := rep.Spans; sp != nil {
		n.observe(PhaseToHolder, max(0, sp.Received.Sub(req.SentAt)))
		n.observe(PhaseQueued, sp.Queued)
		n.observe(PhaseRun, sp.Run)
		n.observe(PhaseBack, max(0, answered.Sub(sp.Answered)))
	}
	return rep, nil
}

func (n *Node) observe(phase string, d time.Duration) {
	if n.cfg.Observe != nil {
		n.cfg.Observe(phase, d)
	}
}

func (n *Node) forwardWait() time.Duration { return 2*n.cfg.CallTimeout + 10*time.Second }

// serve runs a forwarded command, received at received, on the local
// router and answers it; a command for a charger this node does not hold
// is not run (answered notHere): the sender looks the holder up again.
func (n *Node) serve(local charging.Commands, raw RawSender, m *nats.Msg, received time.Time) {
	start := time.Now()
	var req request
	var res charging.CommandResult
	var resp json.RawMessage
	var err error
	var notHere bool
	if jerr := json.Unmarshal(m.Data, &req); jerr != nil {
		err = fmt.Errorf("%w: forwarded command: %v", charging.ErrInvalidInput, jerr)
	} else {
		ctx, cancel := context.WithTimeout(n.stopCtx, n.forwardWait())
		if !req.Deadline.IsZero() {
			cancel()
			ctx, cancel = context.WithDeadline(n.stopCtx, req.Deadline)
		}
		if !n.cfg.Local(req.Charger) {
			notHere = true
			err = fmt.Errorf("%w: %s (node %s does not hold it)", charging.ErrNotConnected, req.Charger, n.cfg.NodeID)
		} else {
			res, resp, err = run(ctx, local, raw, req)
		}
		cancel()
	}
	answered := time.Now()
	spans := &holderSpans{Received: received, Answered: answered, Queued: start.Sub(received), Run: answered.Sub(start)}
	b, _ := json.Marshal(reply{Result: res, Response: resp, Error: encodeError(err), NotHere: notHere, Spans: spans})
	if rerr := m.Respond(b); rerr != nil && n.stopCtx.Err() == nil {
		n.log.Warn("cluster: forwarded command's answer not sent", "op", req.Op, "charger", req.Charger, "err", rerr)
	}
}

// RawSender sends a raw protocol message to a charger (the operator API's
// expert endpoint), with errors in core terms; the answer comes back even
// with an error, when the charger gave one.
type RawSender interface {
	Send(ctx context.Context, chargerID, action string, payload json.RawMessage, requestedBy string) (json.RawMessage, error)
}

// rawCommand is a forwarded raw message.
type rawCommand struct {
	Action      string          `json:"action"`
	Payload     json.RawMessage `json:"payload"`
	RequestedBy string          `json:"requested_by"`
}

// RawRouter is RawSender on a node of a cluster: a message for a charger
// another node holds is sent there, as Router does with commands.
type RawRouter struct {
	node  *Node
	local RawSender
}

var _ RawSender = (*RawRouter)(nil)

// NewRawRouter returns the cluster's raw sender over this node's own.
func NewRawRouter(n *Node, local RawSender) *RawRouter { return &RawRouter{node: n, local: local} }

// Send sends the message through the node that holds the charger.
func (r *RawRouter) Send(ctx context.Context, chargerID, action string, payload json.RawMessage, requestedBy string) (json.RawMessage, error) {
	n := r.node
	if n.cfg.Local(chargerID) {
		return r.local.Send(ctx, chargerID, action, payload, requestedBy)
	}
	body, err := json.Marshal(rawCommand{Action: action, Payload: payload, RequestedBy: requestedBy})
	if err != nil {
		return nil, err
	}
	rep, forwarded, err := n.send(ctx, request{Op: opRaw, Charger: chargerID, Command: body})
	if !forwarded {
		return r.local.Send(ctx, chargerID, action, payload, requestedBy)
	}
	if err != nil {
		return nil, err
	}
	return rep.Response, rep.Error.decode()
}

// refuse answers a command forwarded to a node that is leaving: not
// connected (its chargers are going too), at once rather than at the
// caller's timeout.
func (n *Node) refuse(m *nats.Msg) {
	b, _ := json.Marshal(reply{Error: encodeError(fmt.Errorf("%w: node %s is shutting down", charging.ErrNotConnected, n.cfg.NodeID))})
	_ = m.Respond(b)
}

// run decodes a forwarded command and runs it on c (raw messages on raw).
func run(ctx context.Context, c charging.Commands, raw RawSender, req request) (charging.CommandResult, json.RawMessage, error) {
	if req.Op == opRaw {
		var m rawCommand
		if err := json.Unmarshal(req.Command, &m); err != nil {
			return charging.CommandResult{}, nil, fmt.Errorf("%w: forwarded raw message: %v", charging.ErrInvalidInput, err)
		}
		if raw == nil {
			return charging.CommandResult{}, nil, fmt.Errorf("%w: this node takes no forwarded raw messages", charging.ErrNotSupported)
		}
		res, err := raw.Send(ctx, req.Charger, m.Action, m.Payload, m.RequestedBy)
		return charging.CommandResult{}, res, err
	}
	res, err := runCommand(ctx, c, req)
	return res, nil, err
}

// runCommand decodes a forwarded command and runs it on c.
func runCommand(ctx context.Context, c charging.Commands, req request) (charging.CommandResult, error) {
	switch req.Op {
	case opStart:
		return runOp(ctx, req, c.StartCharging)
	case opStop:
		return runOp(ctx, req, c.StopCharging)
	case opReserve:
		return runOp(ctx, req, c.Reserve)
	case opCancelReservation:
		return runOp(ctx, req, c.CancelReservation)
	case opUnlock:
		return runOp(ctx, req, c.Unlock)
	case opReset:
		return runOp(ctx, req, c.Reset)
	case opChangeAvailability:
		return runOp(ctx, req, c.ChangeAvailability)
	case opSetChargingLimit:
		return runOp(ctx, req, c.SetChargingLimit)
	}
	return charging.CommandResult{}, fmt.Errorf("%w: forwarded command %q: this node does not know it (nodes of different versions?)", charging.ErrNotSupported, req.Op)
}

func runOp[C any](ctx context.Context, req request, f func(context.Context, C) (charging.CommandResult, error)) (charging.CommandResult, error) {
	var c C
	if err := json.Unmarshal(req.Command, &c); err != nil {
		return charging.CommandResult{}, fmt.Errorf("%w: forwarded %s: %v", charging.ErrInvalidInput, req.Op, err)
	}
	return f(ctx, c)
}

// The operations of forwarded commands.
const (
	opStart              = "start"
	opStop               = "stop"
	opReserve            = "reserve"
	opCancelReservation  = "cancel-reservation"
	opUnlock             = "unlock"
	opReset              = "reset"
	opChangeAvailability = "change-availability"
	opSetChargingLimit   = "set-charging-limit"
	opRaw                = "raw"
)

// StartCharging runs on the node that holds the charger.
func (r *Router) StartCharging(ctx context.Context, c charging.StartCharging) (charging.CommandResult, error) {
	return route(ctx, r, opStart, c.ChargerID, c, r.local.StartCharging)
}

// StopCharging runs on the node that holds the session's charger.
func (r *Router) StopCharging(ctx context.Context, c charging.StopCharging) (charging.CommandResult, error) {
	s, err := r.sessions.GetSession(ctx, c.SessionID)
	if err != nil {
		return r.local.StopCharging(ctx, c) // the local router's error for it
	}
	return route(ctx, r, opStop, s.ChargerID, c, r.local.StopCharging)
}

// Reserve runs on the node that holds the charger.
func (r *Router) Reserve(ctx context.Context, c charging.Reserve) (charging.CommandResult, error) {
	return route(ctx, r, opReserve, c.ChargerID, c, r.local.Reserve)
}

// CancelReservation runs on the node that holds the charger.
func (r *Router) CancelReservation(ctx context.Context, c charging.CancelReservation) (charging.CommandResult, error) {
	return route(ctx, r, opCancelReservation, c.ChargerID, c, r.local.CancelReservation)
}

// Unlock runs on the node that holds the charger.
func (r *Router) Unlock(ctx context.Context, c charging.Unlock) (charging.CommandResult, error) {
	return route(ctx, r, opUnlock, c.ChargerID, c, r.local.Unlock)
}

// Reset runs on the node that holds the charger.
func (r *Router) Reset(ctx context.Context, c charging.Reset) (charging.CommandResult, error) {
	return route(ctx, r, opReset, c.ChargerID, c, r.local.Reset)
}

// ChangeAvailability runs on the node that holds the charger.
func (r *Router) ChangeAvailability(ctx context.Context, c charging.ChangeAvailability) (charging.CommandResult, error) {
	return route(ctx, r, opChangeAvailability, c.ChargerID, c, r.local.ChangeAvailability)
}

// SetChargingLimit runs on the node that holds the charger.
func (r *Router) SetChargingLimit(ctx context.Context, c charging.ChargingLimit) (charging.CommandResult, error) {
	return route(ctx, r, opSetChargingLimit, c.ChargerID, c, r.local.SetChargingLimit)
}
