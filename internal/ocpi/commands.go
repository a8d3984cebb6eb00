package ocpi

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// Commands (Receiver): an eMSP POSTs START_SESSION, STOP_SESSION,
// RESERVE_NOW, CANCEL_RESERVATION or UNLOCK_CONNECTOR; we check it,
// answer a CommandResponse at once, send the OCPP command through the
// core's command port (which logs it and applies its effect to the core) and POST the CommandResult to the eMSP's
// response_url through the outbox when the charger answers, or TIMEOUT
// when it does not within CommandTimeout. A command still waiting when
// the server stops gets its TIMEOUT at the next start.

// CommandResponse is the synchronous answer to a command.
type CommandResponse struct {
	Result  string          `json:"result"`
	Timeout int             `json:"timeout"`
	Message json.RawMessage `json:"message,omitempty"`
}

// CommandResult is what the charger did, POSTed to response_url.
type CommandResult struct {
	Result  string          `json:"result"`
	Message json.RawMessage `json:"message,omitempty"`
}

// commandRequest holds the fields of every command's request.
type commandRequest struct {
	ResponseURL            string   `json:"response_url"`
	Token                  *Token   `json:"token,omitempty"`
	LocationID             string   `json:"location_id,omitempty"`
	EVSEUID                string   `json:"evse_uid,omitempty"`
	ConnectorID            string   `json:"connector_id,omitempty"`
	AuthorizationReference string   `json:"authorization_reference,omitempty"`
	SessionID              string   `json:"session_id,omitempty"`
	ReservationID          string   `json:"reservation_id,omitempty"`
	ExpiryDate             DateTime `json:"expiry_date,omitzero"`
}

// Presence says whether a charger is connected.
type Presence interface {
	Connected(chargerID string) bool
}

// pendingCommand is a command waiting for its charger (kind ocpi_cmd),
// kept so a restart can still answer it.
type pendingCommand struct {
	Peer        string    `json:"peer"`
	Command     string    `json:"command"`
	ResponseURL string    `json:"response_url"`
	At          time.Time `json:"at"`
}

const (
	docCommand     = "ocpi_cmd"
	docReservation = "ocpi_reservation" // peer/reservation_id → OCPP reservation id
)

func displayText(s string) json.RawMessage {
	b, _ := json.Marshal([]map[string]string{{"language": "en", "text": s}})
	return b
}

// plan is a command mapped onto the core's command port: the charger, the
// call to make, what to do with the answer, and an immediate answer
// instead when there is one.
type plan struct {
	chargerID string
	run       func(ctx context.Context, requestedBy string) (charging.CommandResult, error)
	// unknown is the result for a charger that answers "unknown" (a
	// cancel of a reservation it does not hold).
	unknown string
	// after runs when the charger accepted (e.g. remember a reservation).
	after func(ctx context.Context) error
	// now, when set, is the CommandResponse without sending anything;
	// nowResult, when set with it, is also POSTed as the CommandResult.
	now       *CommandResponse
	nowResult string
}

func (c *CPO) postCommand(w http.ResponseWriter, r *http.Request) error {
	command := r.PathValue("command")
	var req commandRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	u, err := url.Parse(req.ResponseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errorf(http.StatusBadRequest, StatusInvalidParams, "response_url %q is not an http(s) URL", req.ResponseURL)
	}
	p := peerFrom(r.Context())
	pl, err := c.planCommand(r.Context(), p, command, req)
	if err != nil {
		return err
	}
	timeout := int(c.cfg.CommandTimeout.Round(time.Second) / time.Second)
	if pl.now != nil {
		pl.now.Timeout = timeout
		c.writeResponse(w, http.StatusOK, pl.now)
		if pl.nowResult != "" {
			c.queueResult(r.Context(), p.Key, req.ResponseURL, CommandResult{Result: pl.nowResult})
		}
		return nil
	}
	if c.cfg.Presence != nil && !c.cfg.Presence.Connected(pl.chargerID) {
		c.writeResponse(w, http.StatusOK, CommandResponse{Result: "REJECTED", Timeout: timeout, Message: displayText("the charger is offline")})
		return nil
	}
	id := newUUID()
	pc := pendingCommand{Peer: p.Key, Command: command, ResponseURL: req.ResponseURL, At: c.now()}
	b, _ := json.Marshal(pc)
	if err := c.docs.PutDoc(r.Context(), charging.Doc{Kind: docCommand, ID: id, Owner: p.Key, Body: b, Updated: pc.At}); err != nil {
		return err
	}
	c.writeResponse(w, http.StatusOK, CommandResponse{Result: "ACCEPTED", Timeout: timeout})
	c.goBG(func(ctx context.Context) { c.runCommand(ctx, id, pc, pl) })
	return nil
}

// runCommand sends the command through the port and queues the
// CommandResult.
func (c *CPO) runCommand(ctx context.Context, id string, pc pendingCommand, pl plan) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	res, err := pl.run(cctx, "ocpi:"+pc.Peer)
	if ctx.Err() != nil {
		return // stopping: once stale, TIMEOUT is answered (answerStaleCommands)
	}
	result := commandResult(res, err, pl.unknown)
	if result.Result == "ACCEPTED" && pl.after != nil {
		if err := pl.after(ctx); err != nil {
			c.log.Error("ocpi command accepted but not recorded", "command", pc.Command, "err", err)
		}
	}
	c.queueResult(ctx, pc.Peer, pc.ResponseURL, result)
	_ = c.docs.DeleteDoc(context.WithoutCancel(ctx), docCommand, id)
}

// commandStatusResults maps the core's command statuses onto OCPI
// CommandResultType.
var commandStatusResults = map[charging.CommandStatus]string{
	charging.CommandAccepted:    "ACCEPTED",
	charging.CommandScheduled:   "ACCEPTED",
	charging.CommandRejected:    "REJECTED",
	charging.CommandOccupied:    "EVSE_OCCUPIED",
	charging.CommandInoperative: "EVSE_INOPERATIVE",
	charging.CommandFailed:      "FAILED",
	charging.CommandUnsupported: "NOT_SUPPORTED",
	charging.CommandUnknown:     "REJECTED",
}

// commandErrorResults maps the core's command errors onto OCPI
// CommandResultType, in the order they are tried (a Rejection is read
// from its status first). Every error of charging.CommandErrors is here.
var commandErrorResults = []struct {
	err    error
	result string
}{
	{charging.ErrTimeout, "TIMEOUT"},
	{context.DeadlineExceeded, "TIMEOUT"},
	{charging.ErrNotSupported, "NOT_SUPPORTED"},
	{charging.ErrNotConnected, "EVSE_INOPERATIVE"},
	{charging.ErrRejected, "REJECTED"},
	{charging.ErrInvalidInput, "REJECTED"},
	{charging.ErrConflict, "REJECTED"},
	{charging.ErrNotFound, "FAILED"},
	{charging.ErrChargerError, "FAILED"},
	{charging.ErrInvalidAnswer, "FAILED"},
}

// commandResult is the CommandResult for a port call's outcome.
func commandResult(res charging.CommandResult, err error, unknown string) CommandResult {
	var rej *charging.Rejection
	if errors.As(err, &rej) {
		res = rej.Result
		err = nil
	}
	if err == nil {
		if res.Status == charging.CommandUnknown && unknown != "" {
			return CommandResult{Result: unknown}
		}
		if r, ok := commandStatusResults[res.Status]; ok {
			return CommandResult{Result: r}
		}
		return CommandResult{Result: "REJECTED"}
	}
	for _, m := range commandErrorResults {
		if errors.Is(err, m.err) {
			return CommandResult{Result: m.result, Message: displayText(err.Error())}
		}
	}
	return CommandResult{Result: "FAILED", Message: displayText(err.Error())}
}

func (c *CPO) queueResult(ctx context.Context, peer, responseURL string, r CommandResult) {
	b, _ := json.Marshal(r)
	if err := c.out.add(context.WithoutCancel(ctx), push{Peer: peer, Object: "command result " + r.Result, URL: responseURL, Method: http.MethodPost, Body: b}); err != nil {
		c.log.Error("ocpi command result not queued", "peer", peer, "err", err)
	}
}

// StaleCommandsJob is the charging.Elector job name of the answers to
// commands no process waits for any more.
const StaleCommandsJob = "ocpi stale commands"

// staleMargin is how long past CommandTimeout a pending command waits
// before it counts as left behind: the process that asked answers within
// CommandTimeout, and a little more to queue its result.
const staleMargin = 10 * time.Second

// answerStaleCommands sends TIMEOUT for the commands a process left
// waiting when it stopped or died: those pending longer than
// CommandTimeout and staleMargin (younger ones may be another node's, still
// waiting for the charger). Deleting a command's document claims it, so
// of two nodes only one answers it.
func (c *CPO) answerStaleCommands(ctx context.Context) error {
	cutoff := c.now().Add(-c.cfg.CommandTimeout - staleMargin)
	docs, _, err := c.docs.ListDocs(ctx, charging.DocQuery{Kind: docCommand, To: cutoff, Limit: 1000})
	if err != nil {
		return err
	}
	for _, d := range docs {
		if err := c.docs.DeleteDoc(ctx, docCommand, d.ID); errors.Is(err, charging.ErrNotFound) {
			continue // another node answered it
		} else if err != nil {
			return err
		}
		var pc pendingCommand
		if json.Unmarshal(d.Body, &pc) == nil {
			c.queueResult(ctx, pc.Peer, pc.ResponseURL, CommandResult{Result: "TIMEOUT", Message: displayText("the server stopped while the charger was asked")})
		}
	}
	return nil
}

// runStaleCommands answers left-behind commands every CommandTimeout
// until ctx ends: those of a node that died, and this node's own left by
// a restart that were not stale yet at start. When the store is an
// Elector (nodes sharing a database) only the node that leads
// StaleCommandsJob does; the claim by deletion makes it safe anyway.
func (c *CPO) runStaleCommands(ctx context.Context) {
	el, _ := c.store.(charging.Elector)
	t := time.NewTicker(c.cfg.CommandTimeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if el != nil {
			if lead, _ := el.Lead(ctx, StaleCommandsJob); !lead {
				continue
			}
		}
		if err := c.answerStaleCommands(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("ocpi: left-behind commands not answered; trying again", "err", err)
		}
	}
}

// target checks a command's location, EVSE and connector; it returns the
// charger and the OCPP connector (0 when no EVSE is named). The location
// is a site's or a charger's own (sites.go); without an EVSE, a site's
// Location names a charger only when it has one.
func (c *CPO) target(ctx context.Context, req commandRequest, needEVSE bool) (string, int, error) {
	if req.LocationID == "" {
		return "", 0, errorf(http.StatusBadRequest, StatusInvalidParams, "location_id is required")
	}
	l, err := c.layout(ctx)
	if err != nil {
		return "", 0, err
	}
	unknown := errorf(http.StatusNotFound, StatusUnknownLocation, "unknown location %q", req.LocationID)
	members := l.members(req.LocationID)
	if len(members) == 0 {
		return "", 0, unknown
	}
	if req.EVSEUID == "" {
		if needEVSE {
			return "", 0, errorf(http.StatusBadRequest, StatusInvalidParams, "evse_uid is required")
		}
		if len(members) > 1 {
			return "", 0, errorf(http.StatusBadRequest, StatusInvalidParams, "location %q has the EVSEs of %d chargers; name one with evse_uid", req.LocationID, len(members))
		}
		ch, err := c.store.GetCharger(ctx, members[0])
		if errors.Is(err, charging.ErrNotFound) {
			return "", 0, unknown
		}
		if err != nil {
			return "", 0, err
		}
		return ch.ID, 0, nil
	}
	chID, n, ok := splitEVSEUID(req.EVSEUID)
	found := false
	var evse charging.Connector
	if ok && l.locationID(chID) == req.LocationID {
		ch, err := c.store.GetCharger(ctx, chID)
		if err != nil && !errors.Is(err, charging.ErrNotFound) {
			return "", 0, err
		}
		for _, cn := range ch.Connectors {
			if cn.ConnectorID == n {
				found, evse = true, cn
			}
		}
	}
	if !found {
		if _, err := c.location(ctx, req.LocationID); errors.Is(err, charging.ErrNotFound) {
			return "", 0, unknown
		}
		return "", 0, errorf(http.StatusNotFound, StatusUnknownLocation, "unknown EVSE %q at location %q", req.EVSEUID, req.LocationID)
	}
	if req.ConnectorID != "" {
		known := false
		for _, k := range evseConnectors(evse) {
			known = known || strconv.Itoa(k.EVSEConnectorID) == req.ConnectorID
		}
		if !known {
			return "", 0, errorf(http.StatusNotFound, StatusUnknownLocation, "unknown connector %q of EVSE %q", req.ConnectorID, req.EVSEUID)
		}
	}
	return chID, n, nil
}

func (c *CPO) planCommand(ctx context.Context, p *Peer, command string, req commandRequest) (plan, error) {
	switch command {
	case "START_SESSION":
		if req.Token == nil || req.Token.UID == "" {
			return plan{}, errorf(http.StatusBadRequest, StatusInvalidParams, "START_SESSION needs a token")
		}
		ch, conn, err := c.target(ctx, req, false)
		if err != nil {
			return plan{}, err
		}
		if len(req.Token.UID) > 20 {
			return plan{now: &CommandResponse{Result: "REJECTED", Message: displayText("token uid longer than the 20 characters an id tag may have")}}, nil
		}
		// The eMSP authorized the token by sending the command: record it
		// so the charger's start that follows is accepted and its
		// session says COMMAND with the eMSP's reference.
		tok := *req.Token
		rec := authRecord{Method: "COMMAND", Reference: req.AuthorizationReference, Token: tok.cdrToken(), At: c.now()}
		if err := putAuthRecord(ctx, c.docs, ch, tok.UID, rec); err != nil {
			return plan{}, err
		}
		return plan{chargerID: ch, run: func(ctx context.Context, by string) (charging.CommandResult, error) {
			return c.cmd.StartCharging(ctx, charging.StartCharging{ChargerID: ch, ConnectorID: conn, IDTag: tok.UID, RequestedBy: by})
		}}, nil
	case "STOP_SESSION":
		if req.SessionID == "" {
			return plan{}, errorf(http.StatusBadRequest, StatusInvalidParams, "STOP_SESSION needs session_id")
		}
		s, err := c.store.GetSession(ctx, req.SessionID)
		if errors.Is(err, charging.ErrNotFound) || (err == nil && (s.TransactionID == "" || s.Status.Final())) {
			return plan{now: &CommandResponse{Result: "UNKNOWN_SESSION"}}, nil
		}
		if err != nil {
			return plan{}, err
		}
		return plan{chargerID: s.ChargerID, run: func(ctx context.Context, by string) (charging.CommandResult, error) {
			return c.cmd.StopCharging(ctx, charging.StopCharging{SessionID: s.ID, RequestedBy: by})
		}}, nil
	case "RESERVE_NOW":
		if req.Token == nil || req.Token.UID == "" || req.ReservationID == "" || time.Time(req.ExpiryDate).IsZero() {
			return plan{}, errorf(http.StatusBadRequest, StatusInvalidParams, "RESERVE_NOW needs token, reservation_id and expiry_date")
		}
		ch, conn, err := c.target(ctx, req, false)
		if err != nil {
			return plan{}, err
		}
		if len(req.Token.UID) > 20 {
			return plan{now: &CommandResponse{Result: "REJECTED", Message: displayText("token uid longer than the 20 characters an id tag may have")}}, nil
		}
		rid, err := c.reservationID(ctx, p.Key, req.ReservationID, ch, true)
		if err != nil {
			return plan{}, err
		}
		tok := *req.Token
		rec := authRecord{Method: "COMMAND", Reference: req.AuthorizationReference, Token: tok.cdrToken(), At: c.now()}
		if err := putAuthRecord(ctx, c.docs, ch, tok.UID, rec); err != nil {
			return plan{}, err
		}
		exp := time.Time(req.ExpiryDate)
		return plan{chargerID: ch, run: func(ctx context.Context, by string) (charging.CommandResult, error) {
			return c.cmd.Reserve(ctx, charging.Reserve{ChargerID: ch, ConnectorID: conn, IDTag: tok.UID, ReservationID: rid, ExpiresAt: exp, RequestedBy: by})
		}}, nil
	case "CANCEL_RESERVATION":
		if req.ReservationID == "" {
			return plan{}, errorf(http.StatusBadRequest, StatusInvalidParams, "CANCEL_RESERVATION needs reservation_id")
		}
		r, err := c.reservation(ctx, p.Key, req.ReservationID)
		if errors.Is(err, charging.ErrNotFound) {
			return plan{now: &CommandResponse{Result: "ACCEPTED"}, nowResult: "UNKNOWN_RESERVATION"}, nil
		}
		if err != nil {
			return plan{}, err
		}
		return plan{chargerID: r.ChargerID, unknown: "UNKNOWN_RESERVATION", run: func(ctx context.Context, by string) (charging.CommandResult, error) {
			return c.cmd.CancelReservation(ctx, charging.CancelReservation{ChargerID: r.ChargerID, ReservationID: r.OCPPID, RequestedBy: by})
		}}, nil
	case "UNLOCK_CONNECTOR":
		ch, conn, err := c.target(ctx, req, true)
		if err != nil {
			return plan{}, err
		}
		return plan{chargerID: ch, run: func(ctx context.Context, by string) (charging.CommandResult, error) {
			// connector_id is required by UNLOCK_CONNECTOR and was checked
			// to be one of the EVSE's (target).
			k, _ := strconv.Atoi(req.ConnectorID)
			return c.cmd.Unlock(ctx, charging.Unlock{ChargerID: ch, ConnectorID: conn, EVSEConnectorID: k, RequestedBy: by})
		}}, nil
	}
	return plan{now: &CommandResponse{Result: "NOT_SUPPORTED", Message: displayText(fmt.Sprintf("command %q is not supported", command))}}, nil
}

// reservationRef maps an eMSP's reservation id to the OCPP one.
type reservationRef struct {
	ChargerID string `json:"charger_id"`
	OCPPID    int64  `json:"ocpp_id"`
}

func (c *CPO) reservation(ctx context.Context, peer, id string) (reservationRef, error) {
	d, err := c.docs.GetDoc(ctx, docReservation, peer+"/"+id)
	if err != nil {
		return reservationRef{}, err
	}
	var r reservationRef
	err = json.Unmarshal(d.Body, &r)
	return r, err
}

// reservationID returns the OCPP reservation id of an eMSP's reservation
// (a RESERVE_NOW with a known id updates that reservation).
func (c *CPO) reservationID(ctx context.Context, peer, id, chargerID string, create bool) (int64, error) {
	r, err := c.reservation(ctx, peer, id)
	if err == nil {
		return r.OCPPID, nil
	}
	if !errors.Is(err, charging.ErrNotFound) || !create {
		return 0, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	r = reservationRef{ChargerID: chargerID, OCPPID: int64(binary.BigEndian.Uint32(b[:]) & 0x7fffffff)}
	body, _ := json.Marshal(r)
	if err := c.docs.PutDoc(ctx, charging.Doc{Kind: docReservation, ID: peer + "/" + id, Owner: chargerID, Body: body, Updated: c.now()}); err != nil {
		return 0, err
	}
	return r.OCPPID, nil
}
