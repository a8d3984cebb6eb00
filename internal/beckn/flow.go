package beckn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/beckn/evsession"
	"github.com/chargebridge/chargebridge/internal/charging"
)

// status answers status and track: the order with its live session.
func (b *BPP) status(ctx context.Context, c Context, o *Order) (any, *Error) {
	r, e := b.loadFor(ctx, o.ID, c.BapID)
	if e != nil {
		return nil, e
	}
	return b.orderAnswer(ctx, r)
}

// update starts or stops charging: a fulfillment whose sessionStatus is
// STOP (or COMPLETED) stops, anything else starts.
func (b *BPP) update(ctx context.Context, c Context, o *Order, j job, log *slog.Logger) (any, *Error) {
	want := ""
	if o.Fulfillment != nil && o.Fulfillment.DeliveryAttributes != nil {
		want = strings.ToUpper(o.Fulfillment.DeliveryAttributes.in.SessionStatus)
	}
	switch want {
	case "STOP", "COMPLETED":
		return b.stopCharging(ctx, c, o, j, log)
	case "", "PENDING", "ACTIVE", "START":
		return b.startCharging(ctx, c, o, j, log)
	}
	return nil, &Error{Code: CodeInvalidUpdate, Message: fmt.Sprintf("sessionStatus %q: send PENDING or ACTIVE to start charging, STOP to stop", want),
		Paths: "message.order.beckn:fulfillment.beckn:deliveryAttributes.sessionStatus"}
}

// startCharging asks the charger to start charging for the reservation's id tag and
// waits a little for the charger to start, so the answer says ACTIVE.
func (b *BPP) startCharging(ctx context.Context, c Context, o *Order, j job, log *slog.Logger) (any, *Error) {
	unlock, e := b.lock(ctx, o.ID)
	if e != nil {
		return nil, e
	}
	r, e := b.loadFor(ctx, o.ID, c.BapID)
	if e != nil {
		unlock()
		return nil, e
	}
	sess, e := b.session(ctx, r)
	if e != nil {
		unlock()
		return nil, e
	}
	switch sess.Status {
	case charging.SessionActive, charging.SessionStopping:
		unlock()
		return b.orderAnswer(ctx, r) // already charging
	case charging.SessionReserved:
	default:
		unlock()
		return nil, errorf(CodeUpdateNotPossible, "the reservation has ended (%s); make a new order", sess.Status)
	}
	r.Starting = true
	err := b.save(ctx, r)
	unlock()
	if err != nil {
		return nil, errorf(CodeBusinessError, "the order could not be stored; retry later")
	}
	// Watch the session before asking, so its start cannot slip by.
	changed, unwatch := b.watch(r.SessionID)
	defer unwatch()
	_, err = b.cmd.StartCharging(ctx, charging.StartCharging{ChargerID: r.ChargerID, ConnectorID: r.ConnectorID, IDTag: r.IDTag, RequestedBy: requestedBy})
	var fail *Error
	switch {
	case errors.Is(err, charging.ErrRejected):
		fail = errorf(CodeUpdateNotPossible, "the charger refused to start (%s); is the vehicle plugged in?", rejection(err))
	case err != nil:
		log.Warn("beckn: start charging failed", "charger", r.ChargerID, "err", err)
		fail = commandError(err, "the charger %s cannot start now", r.ChargerID)
	default:
		// Wait for the charger to start the transaction, within the request's ttl: each
		// change of the session wakes us to look at it again.
		timeout := time.NewTimer(min(b.cfg.StartWait, time.Until(j.deadline)/2))
		defer timeout.Stop()
	wait:
		for {
			s, err := b.core.Store().GetSession(ctx, r.SessionID)
			if err == nil && s.Status != charging.SessionReserved && s.Status != charging.SessionPending {
				break
			}
			select {
			case <-changed:
			case <-timeout.C:
				break wait
			case <-ctx.Done():
				break wait
			}
		}
	}
	if unlock, e = b.lock(ctx, o.ID); e != nil {
		return nil, e
	}
	defer unlock()
	if r, err = b.load(ctx, o.ID); err != nil {
		return nil, errorf(CodeBusinessError, "the order is unavailable; retry later")
	}
	r.Starting = false
	if fail == nil {
		if s, err := b.core.Store().GetSession(ctx, r.SessionID); err == nil {
			r.Notified = SessionStatusOf(s.Status)
			r.Status = orderStatusOf(r, s)
		}
	}
	if err := b.save(ctx, r); err != nil {
		return nil, errorf(CodeBusinessError, "the order could not be stored; retry later")
	}
	if fail != nil {
		return nil, fail
	}
	m, e := b.orderAnswer(ctx, r)
	if e != nil {
		return nil, e
	}
	b.answer(j, m, nil, log)
	return answered{}, nil
}

// stopCharging asks the charger to stop charging; the answer says STOP, and the
// COMPLETED with totals follows unsolicited when the charger reports the
// end.
func (b *BPP) stopCharging(ctx context.Context, c Context, o *Order, j job, log *slog.Logger) (any, *Error) {
	unlock, e := b.lock(ctx, o.ID)
	if e != nil {
		return nil, e
	}
	defer unlock()
	r, e := b.loadFor(ctx, o.ID, c.BapID)
	if e != nil {
		return nil, e
	}
	sess, e := b.session(ctx, r)
	if e != nil {
		return nil, e
	}
	switch {
	case sess.Status == charging.SessionStopping || sess.Status.Final():
		return b.orderAnswer(ctx, r) // already stopping or ended
	case sess.Status != charging.SessionActive || sess.TransactionID == "":
		return nil, errorf(CodeUpdateNotPossible, "the session is not charging (%s); to give up a reservation, cancel the order", sess.Status)
	}
	_, err := b.cmd.StopCharging(ctx, charging.StopCharging{SessionID: sess.ID, RequestedBy: requestedBy})
	if errors.Is(err, charging.ErrRejected) {
		return nil, errorf(CodeUpdateNotPossible, "the charger refused to stop (%s)", rejection(err))
	}
	if err != nil {
		log.Warn("beckn: stop charging failed", "charger", r.ChargerID, "err", err)
		return nil, commandError(err, "the charger %s cannot be reached to stop; stop at the charger", r.ChargerID)
	}
	// The answer says STOP even when the charger has already reported the
	// end: the COMPLETED with totals follows as its own message.
	r.Notified, r.Status = evsession.StatusStop, OrderInProgress
	if err := b.save(ctx, r); err != nil {
		return nil, errorf(CodeBusinessError, "the order could not be stored; retry later")
	}
	m, e := b.orderAnswer(ctx, r)
	if e != nil {
		return nil, e
	}
	om := m.(orderMessage)
	if f := om.Order.Fulfillment; f != nil && f.DeliveryAttributes != nil && f.DeliveryAttributes.Session != nil {
		f.DeliveryAttributes.Session.SessionStatus = evsession.StatusStop
	}
	om.Order.Status = OrderInProgress
	b.answer(j, om, nil, log)
	return answered{}, nil
}

// cancel gives up a reservation through the command port. A session that has started is stopped with update, not cancelled.
func (b *BPP) cancel(ctx context.Context, c Context, o *Order, log *slog.Logger) (any, *Error) {
	unlock, e := b.lock(ctx, o.ID)
	if e != nil {
		return nil, e
	}
	defer unlock()
	r, e := b.loadFor(ctx, o.ID, c.BapID)
	if e != nil {
		return nil, e
	}
	if r.Status == OrderCancelled {
		return b.cancelled(ctx, r)
	}
	if r.SessionID == "" { // initialized, never confirmed
		r.Status = OrderCancelled
		if err := b.save(ctx, r); err != nil {
			return nil, errorf(CodeBusinessError, "the order could not be stored; retry later")
		}
		return b.cancelled(ctx, r)
	}
	sess, e := b.session(ctx, r)
	if e != nil {
		return nil, e
	}
	if sess.Status != charging.SessionReserved {
		return nil, errorf(CodeCancelNotPossible, "the session is %s; a started session is stopped with update (sessionStatus STOP)", sess.Status)
	}
	_, err := b.cmd.CancelReservation(ctx, charging.CancelReservation{ChargerID: r.ChargerID, ReservationID: r.ReservationID, RequestedBy: requestedBy})
	if errors.Is(err, charging.ErrRejected) {
		return nil, errorf(CodeCancelNotPossible, "the charger refused to cancel the reservation (%s)", rejection(err))
	}
	if err != nil {
		log.Warn("beckn: cancel reservation failed", "charger", r.ChargerID, "err", err)
		return nil, commandError(err, "the charger %s cannot be reached to cancel; retry later", r.ChargerID)
	}
	r.Status = OrderCancelled
	if err := b.save(ctx, r); err != nil {
		return nil, errorf(CodeBusinessError, "the order could not be stored; retry later")
	}
	log.Info("beckn order cancelled", "order", r.ID, "charger", r.ChargerID, "reservation", r.ReservationID)
	return b.cancelled(ctx, r)
}

// cancelled answers a cancel: the order CANCELLED, and a completed payment
// marked refunded (nothing was charged).
func (b *BPP) cancelled(ctx context.Context, r *record) (any, *Error) {
	m, e := b.orderAnswer(ctx, r)
	if e != nil {
		return nil, e
	}
	om := m.(orderMessage)
	om.Order.Status = OrderCancelled
	if len(om.Order.Payment) > 0 {
		var p map[string]any
		if json.Unmarshal(om.Order.Payment, &p) == nil && p["beckn:paymentStatus"] == "COMPLETED" {
			p["beckn:paymentStatus"] = "REFUNDED"
			om.Order.Payment, _ = json.Marshal(p)
		}
	}
	return om, nil
}

// session returns an order's session.
func (b *BPP) session(ctx context.Context, r *record) (charging.Session, *Error) {
	if r.SessionID == "" {
		return charging.Session{}, errorf(CodeUpdateNotPossible, "order %s is not confirmed", r.ID)
	}
	s, err := b.core.Store().GetSession(ctx, r.SessionID)
	if err != nil {
		return charging.Session{}, errorf(CodeBusinessError, "the session is unavailable; retry later")
	}
	return s, nil
}

// rating keeps the ratings a BAP submits.
func (b *BPP) rating(ctx context.Context, c Context, m *ratingMessage) (any, *Error) {
	for i, in := range m.Ratings {
		best, worst := 5.0, 1.0
		if in.BestRating != nil {
			best = in.BestRating.InexactFloat64()
		}
		if in.WorstRating != nil {
			worst = in.WorstRating.InexactFloat64()
		}
		v := in.RatingValue.InexactFloat64()
		if v < min(best, worst) || v > max(best, worst) {
			return nil, &Error{Code: CodeInvalidRating, Message: fmt.Sprintf("ratingValue %s is outside %g to %g", in.RatingValue.String(), worst, best),
				Paths: fmt.Sprintf("message.ratings[%d].ratingValue", i)}
		}
	}
	for i, in := range m.Ratings {
		body, _ := json.Marshal(map[string]any{"bap_id": c.BapID, "transaction_id": c.TransactionID, "rating": in})
		id := c.MessageID + "/" + strconv.Itoa(i)
		if err := b.docs.PutDoc(ctx, charging.Doc{Kind: DocRating, ID: id, Owner: c.BapID, Body: body, Updated: b.clock.Now()}); err != nil {
			return nil, errorf(CodeBusinessError, "the rating could not be stored; retry later")
		}
	}
	return onRatingMessage{Received: true}, nil
}

// support tells the BAP how to reach the operator.
func (b *BPP) support(ctx context.Context, c Context, m *supportMessage) (any, *Error) {
	if m.RefID != "" && strings.EqualFold(m.RefType, "ORDER") {
		if _, e := b.loadFor(ctx, m.RefID, c.BapID); e != nil {
			e.Paths = "message.refId"
			return nil, e
		}
	}
	s := b.cfg.Support
	s.Context, s.Type = CoreContext, "beckn:SupportInfo"
	if s.Name == "" {
		s.Name = b.cfg.Catalog.ProviderName + " support"
	}
	if len(s.Channels) == 0 {
		for _, ch := range []struct {
			set  bool
			name string
		}{{s.Phone != "", "PHONE"}, {s.Email != "", "EMAIL"}, {s.URL != "", "WEB"}} {
			if ch.set {
				s.Channels = append(s.Channels, ch.name)
			}
		}
	}
	return onSupportMessage{Support: s}, nil
}

// EventsConsumer is the BPP's durable consumer of the core's event log.
const EventsConsumer = "beckn"

// onEvent is the core's in-process listener: it wakes the requests that
// wait on the session (it must not block).
func (b *BPP) onEvent(e charging.Event) {
	if e.Kind != charging.SessionChanged || e.Session == nil || !b.running.Load() {
		return
	}
	b.wake(e.Session.ID)
}

// handleEvent is the event log's consumer: it tells a BAP whose order the
// session is that the session changed. Store errors have the event
// delivered again; a session of no order is nothing to tell.
func (b *BPP) handleEvent(ctx context.Context, e charging.Event) error {
	if e.Kind != charging.SessionChanged || e.SessionID == "" {
		return nil
	}
	// The session as it is now: the event only names it.
	s, err := b.core.Store().GetSession(ctx, e.SessionID)
	if errors.Is(err, charging.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	switch s.Status {
	case charging.SessionActive, charging.SessionStopping, charging.SessionCompleted, charging.SessionInterrupted, charging.SessionInvalid:
		return b.notify(ctx, s)
	}
	return nil
}

// notify tells a BAP, unsolicited and under a message id of its own, that its
// session changed state: on_status when it started, stopped from elsewhere
// or was interrupted, on_update when it completed (with totals).
func (b *BPP) notify(ctx context.Context, s charging.Session) error {
	d, err := b.docs.GetDoc(ctx, DocOrderSession, s.ID)
	if errors.Is(err, charging.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("beckn: order of session %s not looked up: %w", s.ID, err)
	}
	var idx struct {
		OrderID string `json:"order_id"`
	}
	if json.Unmarshal(d.Body, &idx) != nil {
		return nil
	}
	unlock, err := b.locks.Lock(ctx, orderLockKey(idx.OrderID))
	if err != nil {
		return fmt.Errorf("beckn: order %s not locked: %w", idx.OrderID, err)
	}
	defer unlock()
	r, err := b.load(ctx, idx.OrderID)
	if err != nil {
		return fmt.Errorf("beckn: order %s not loaded: %w", idx.OrderID, err)
	}
	// Read again under the order's lock: the session may have moved on.
	if cur, err := b.core.Store().GetSession(ctx, s.ID); err == nil {
		s = cur
	}
	st := SessionStatusOf(s.Status)
	if r.Status == OrderCancelled || st == r.Notified || (r.Starting && st == evsession.StatusActive) || st == evsession.StatusPending {
		return nil
	}
	action := "on_status"
	if s.Status == charging.SessionCompleted {
		action = "on_update"
	}
	r.Notified = st
	r.Status = orderStatusOf(r, s)
	o, err := b.liveOrder(ctx, r)
	if err != nil {
		b.log.Error("beckn: order not rendered", "order", r.ID, "err", err)
		return b.save(ctx, r)
	}
	reply := Context{Domain: r.Domain, Action: strings.TrimPrefix(action, "on_"), Version: r.Version, BapID: r.BapID, BapURI: r.BapURI,
		TransactionID: r.TransactionID, TTL: "PT30S"}
	if reply.Domain == "" {
		reply.Domain = "beckn.one:deg:ev-charging:*"
	}
	log := b.log.With("action", action, "order", r.ID, "session", s.ID, "transaction_id", r.TransactionID)
	log.Info("beckn: telling the BAP the session changed", "session_status", st)
	// The callback is kept before the order records that the BAP was
	// told, under a message id its order, session and status make: a
	// node that dies between the two has the event handled again (it
	// was not acknowledged), which keeps the same callback again, so the
	// BAP gets it at least once and a repeat has the same message id.
	// (The other way round, the event handled again found the BAP told
	// and the callback was lost.)
	if err := b.callbackKept(ctx, reply, action, notifyMessageID(r.ID, s.ID, st), orderMessage{Order: o}, time.Now().Add(unsolicitedTTL), log); err != nil {
		return fmt.Errorf("beckn: callback of order %s not kept: %w", r.ID, err)
	}
	if err := b.save(ctx, r); err != nil {
		return fmt.Errorf("beckn: order %s not stored: %w", r.ID, err)
	}
	return nil
}

// notifyMessageID is the message id of the unsolicited callback that
// tells an order's BAP its session reached status: the same each time it
// is made (a UUID of version 8 from a SHA-256 of the three).
func notifyMessageID(orderID, sessionID string, status evsession.SessionStatus) string {
	sum := sha256.Sum256([]byte("beckn notify\x00" + orderID + "\x00" + sessionID + "\x00" + string(status)))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// watch returns a channel that receives when the session changes, until
// stop is called. Several watchers of one session each get their own.
func (b *BPP) watch(sessionID string) (changed <-chan struct{}, stop func()) {
	ch := make(chan struct{}, 1)
	b.watchMu.Lock()
	if b.watchers == nil {
		b.watchers = map[string]map[chan struct{}]bool{}
	}
	if b.watchers[sessionID] == nil {
		b.watchers[sessionID] = map[chan struct{}]bool{}
	}
	b.watchers[sessionID][ch] = true
	b.watchMu.Unlock()
	return ch, func() {
		b.watchMu.Lock()
		delete(b.watchers[sessionID], ch)
		if len(b.watchers[sessionID]) == 0 {
			delete(b.watchers, sessionID)
		}
		b.watchMu.Unlock()
	}
}

// wake tells the session's watchers it changed; it never blocks the
// charger path (a watcher with a wake-up pending needs no second one).
func (b *BPP) wake(sessionID string) {
	b.watchMu.Lock()
	for ch := range b.watchers[sessionID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	b.watchMu.Unlock()
}
