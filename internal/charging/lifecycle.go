package charging

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotSupported is returned for a feature the configured store lacks, or
// a command the charger (or its protocol) does not support.
var ErrNotSupported = errors.New("not supported")

func (s *Service) full() (FullStore, error) {
	f, ok := s.store.(FullStore)
	if !ok {
		return nil, ErrNotSupported
	}
	return f, nil
}

// Reservation is a connector held for an id tag (OCPP ReserveNow).
type Reservation struct {
	ChargerID     string
	ConnectorID   int
	ReservationID int64
	IDTag         string
	ExpiresAt     time.Time
}

// ReservationAccepted records a reservation the charger accepted: a
// reserved session, ended when a StartTransaction carries its id, when it
// is cancelled, or when it expires.
func (s *Service) ReservationAccepted(ctx context.Context, r Reservation) (Session, error) {
	f, err := s.full()
	if err != nil {
		return Session{}, err
	}
	now := s.clock.Now()
	exp := r.ExpiresAt
	rid := r.ReservationID
	sess := Session{ID: NewID(), ChargerID: r.ChargerID, ConnectorID: r.ConnectorID, IDTag: r.IDTag,
		Status: SessionReserved, ReservationID: &rid, StartedAt: now, ExpiresAt: &exp, LastUpdated: now}
	if err := f.CreateSession(ctx, sess); err != nil {
		return Session{}, fmt.Errorf("reservation %d at %s: %w", rid, r.ChargerID, err)
	}
	s.publish(Event{Kind: SessionChanged, At: now, ChargerID: r.ChargerID, Session: &sess})
	return sess, nil
}

// ReservationCancelled ends the reserved session of a reservation the
// charger cancelled. OCPI has a reservation that led to no charging end
// COMPLETED, so the canonical status is completed.
func (s *Service) ReservationCancelled(ctx context.Context, chargerID string, reservationID int64) error {
	sess, err := s.findSession(ctx, chargerID, SessionReserved, func(x Session) bool {
		return x.ReservationID != nil && *x.ReservationID == reservationID
	})
	if err != nil {
		return fmt.Errorf("cancel reservation %d at %s: %w", reservationID, chargerID, err)
	}
	return s.endOpen(ctx, sess, ReservationCancelled)
}

// RemoteStartAccepted records a remote start the charger accepted: a
// pending session, taken over by the StartTransaction that follows or
// closed (invalid) if none comes before timeout. When the id tag holds a
// reservation on that connector (or on connector 0), the reserved session
// is the one the StartTransaction takes over: it is returned and no
// pending session is made, which would otherwise be left over and closed.
// Likewise when the charger's start for the tag is already stored.
func (s *Service) RemoteStartAccepted(ctx context.Context, chargerID string, connectorID int, idTag string, timeout time.Duration) (Session, error) {
	f, err := s.full()
	if err != nil {
		return Session{}, err
	}
	unlock, err := s.starts.Lock(ctx, chargerID)
	if err != nil {
		return Session{}, fmt.Errorf("remote start at %s: %w", chargerID, err)
	}
	defer unlock()
	if res, err := s.findSession(ctx, chargerID, SessionReserved, func(x Session) bool {
		return x.IDTag == idTag && (connectorID == 0 || x.ConnectorID == connectorID || x.ConnectorID == 0)
	}); err == nil {
		return res, nil
	}
	// The charger may have started already: it sends its StartTransaction
	// right after its answer, and that can be stored before the answer is
	// handled here. Its session is the remote start's; a pending one made
	// now would wait for a start that came, then end invalid.
	if act, err := s.findSession(ctx, chargerID, SessionActive, func(x Session) bool {
		return x.IDTag == idTag && (connectorID == 0 || x.ConnectorID == connectorID)
	}); err == nil {
		return act, nil
	}
	now := s.clock.Now()
	exp := now.Add(timeout)
	sess := Session{ID: NewID(), ChargerID: chargerID, ConnectorID: connectorID, IDTag: idTag,
		Status: SessionPending, StartedAt: now, ExpiresAt: &exp, LastUpdated: now}
	if err := f.CreateSession(ctx, sess); err != nil {
		return Session{}, fmt.Errorf("remote start at %s: %w", chargerID, err)
	}
	s.publish(Event{Kind: SessionChanged, At: now, ChargerID: chargerID, Session: &sess})
	return sess, nil
}

// RemoteStopAccepted marks the transaction's session stopping until its
// StopTransaction arrives.
func (s *Service) RemoteStopAccepted(ctx context.Context, chargerID, transactionID string) error {
	f, err := s.full()
	if err != nil {
		return err
	}
	sess, err := s.store.SessionByTransaction(ctx, chargerID, transactionID)
	if err != nil {
		return fmt.Errorf("remote stop of transaction %s of %s: %w", transactionID, chargerID, err)
	}
	now := s.clock.Now()
	t, err := Next(sess.Status, RemoteStopAccepted)
	if err != nil {
		return nil // already stopping or ended: nothing to show
	}
	up, err := f.UpdateSessionStatus(ctx, sess.ID, StatusesFrom(RemoteStopAccepted), t.To, now, t.Reason)
	if errors.Is(err, ErrConflict) {
		return nil // already stopping or ended: nothing to show
	}
	if err != nil {
		return fmt.Errorf("remote stop of transaction %s of %s: %w", transactionID, chargerID, err)
	}
	s.publish(Event{Kind: SessionChanged, At: now, ChargerID: up.ChargerID, Session: &up, TransactionID: transactionID})
	return nil
}

// ExpireSessions ends reserved and pending sessions whose ExpiresAt has
// passed; it returns how many it ended. The server runs it periodically.
func (s *Service) ExpireSessions(ctx context.Context) (int, error) {
	if _, err := s.full(); err != nil {
		return 0, nil
	}
	now := s.clock.Now()
	n := 0
	// The events of a waiting session whose time ran out.
	for _, ev := range []SessionEvent{ReservationExpired, RemoteStartTimeout} {
		for _, st := range StatusesFrom(ev) {
			cursor := ""
			for {
				page, next, err := s.store.ListSessions(ctx, SessionFilter{Status: st, Limit: 500, Cursor: cursor})
				if err != nil {
					return n, err
				}
				for _, sess := range page {
					if sess.ExpiresAt == nil || sess.ExpiresAt.After(now) {
						continue
					}
					err := s.endOpen(ctx, sess, ev)
					if errors.Is(err, ErrConflict) {
						continue // it moved on meanwhile (started, or another node ended it)
					}
					if err != nil {
						return n, err
					}
					s.log.Info("session expired", "session", sess.ID, "charger", sess.ChargerID, "status", st, "event", ev)
					n++
				}
				if next == "" {
					break
				}
				cursor = next
			}
		}
	}
	return n, nil
}

// ExpiryJob is the Elector job name of RunExpiry.
const ExpiryJob = "session expiry"

// RunExpiry calls ExpireSessions every interval until ctx is done, then
// returns nil. A failed pass is logged and retried at the next interval.
//
// Reservation expiry and remote-start timeouts run once per cluster:
// when the store is an Elector (nodes sharing a database), only the node
// that leads ExpiryJob runs a pass, and another node leads from its next
// tick once the leader's connection drops. The pass would also be safe
// twice: each session is ended by a compare-and-set on its status
// (UpdateSessionStatus from the waiting status), so of two nodes one ends
// it and publishes the change, the other gets ErrConflict and skips it;
// leadership saves the duplicate scans.
func (s *Service) RunExpiry(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	el, _ := s.store.(Elector)
	failing := false // leadership errors are logged when they start
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if el != nil {
				lead, err := el.Lead(ctx, ExpiryJob)
				if err != nil && !failing && ctx.Err() == nil {
					s.log.Warn("session expiry: cannot tell whether this node leads; it skips until it can", "err", err)
				}
				failing = err != nil
				if !lead {
					continue
				}
			}
			if _, err := s.ExpireSessions(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("expiring sessions failed", "err", err)
			}
		}
	}
}

// endOpen ends a reserved or pending session by ev, as the state machine
// says (a reservation without charging ends completed, as OCPI has it; a
// remote start the charger never followed, invalid), with the transition's
// reason. The store moves it only if it is still in the status ev applies
// to (ErrConflict otherwise).
func (s *Service) endOpen(ctx context.Context, sess Session, ev SessionEvent) error {
	f, err := s.full()
	if err != nil {
		return err
	}
	t, err := Next(sess.Status, ev)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	up, err := f.UpdateSessionStatus(ctx, sess.ID, []SessionStatus{t.From}, t.To, now, t.Reason)
	if err != nil {
		return err
	}
	s.publish(Event{Kind: SessionChanged, At: now, ChargerID: up.ChargerID, Session: &up})
	return nil
}

// findSession finds a charger's session in a status that matches.
func (s *Service) findSession(ctx context.Context, chargerID string, st SessionStatus, match func(Session) bool) (Session, error) {
	cursor := ""
	for {
		page, next, err := s.store.ListSessions(ctx, SessionFilter{Status: st, ChargerID: chargerID, Limit: 200, Cursor: cursor})
		if err != nil {
			return Session{}, err
		}
		for _, x := range page {
			if match(x) {
				return x, nil
			}
		}
		if next == "" {
			return Session{}, ErrNotFound
		}
		cursor = next
	}
}

// RecordCommand keeps a command log entry.
func (s *Service) RecordCommand(ctx context.Context, r CommandRecord) error {
	f, err := s.full()
	if err != nil {
		return err
	}
	body, err := marshalDoc(r)
	if err != nil {
		return err
	}
	return f.PutDoc(ctx, Doc{Kind: DocCommand, ID: r.ID, Owner: r.ChargerID, Body: body, Updated: r.SentAt})
}

// ListCommands returns a charger's command log, newest first.
func (s *Service) ListCommands(ctx context.Context, chargerID string, limit int) ([]CommandRecord, error) {
	f, err := s.full()
	if err != nil {
		return nil, err
	}
	docs, _, err := f.ListDocs(ctx, DocQuery{Kind: DocCommand, Owner: chargerID, Limit: limit, Newest: true})
	if err != nil {
		return nil, err
	}
	out := make([]CommandRecord, 0, len(docs))
	for _, d := range docs {
		var r CommandRecord
		if err := unmarshalDoc(d.Body, &r); err != nil {
			return nil, fmt.Errorf("command %s: %w", d.ID, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Docs returns the document store, for adapters that keep their own
// records (local lists, charging profiles, OCPI parties, Beckn orders).
func (s *Service) Docs() (DocStore, error) { return s.full() }
