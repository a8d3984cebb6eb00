package charging

import (
	"fmt"
	"time"
)

// SessionEvent is something that happens to a session and may change its
// status: the rows of DESIGN.md's session table, as events.
type SessionEvent string

// Session events.
const (
	// ReservationAccepted: the charger accepted a reservation (ReserveNow,
	// a Beckn confirm); a reserved session is created.
	ReservationAccepted SessionEvent = "reservation-accepted"
	// ReservationCancelled: the charger cancelled the reservation.
	ReservationCancelled SessionEvent = "reservation-cancelled"
	// ReservationExpired: the reservation ran out without a start.
	ReservationExpired SessionEvent = "reservation-expired"
	// RemoteStartAccepted: the charger accepted a remote start; a pending
	// session waits for its StartTransaction.
	RemoteStartAccepted SessionEvent = "remote-start-accepted"
	// RemoteStartTimeout: no start followed the remote start in time.
	RemoteStartTimeout SessionEvent = "remote-start-timeout"
	// StartAccepted: a transaction started with an accepted id token; it
	// creates a session or takes over a reserved or pending one.
	StartAccepted SessionEvent = "start"
	// StartRefused: a transaction started with an id token that was
	// refused: the charger has started anyway, so the session exists, void.
	StartRefused SessionEvent = "start-refused"
	// Superseded: a later start on the same connector: the charger lost
	// this session (rebooted without stopping it).
	Superseded SessionEvent = "superseded"
	// RemoteStopAccepted: the charger accepted a remote stop; the session
	// is stopping until the transaction ends.
	RemoteStopAccepted SessionEvent = "remote-stop-accepted"
	// StopCompleted and StopInterrupted: the transaction ended, normally
	// or not (the adapter decides which from its protocol's stop reason).
	StopCompleted   SessionEvent = "stop-completed"
	StopInterrupted SessionEvent = "stop-interrupted"
)

// StatusNone is the status of a session that does not exist yet: the
// "from" of the events that create one.
const StatusNone SessionStatus = ""

// Transition is one row of the state machine: a session in From that sees
// Event moves to To. Reason, when set, is the session's stop reason (the
// stops keep the reason the charger gave).
type Transition struct {
	From   SessionStatus
	Event  SessionEvent
	To     SessionStatus
	Reason string
}

// Transitions is the session state machine. An event not listed for a
// status does not apply to it (ErrConflict). A stop of a session that
// already ended keeps its status: the charger's readings are still taken
// (see ApplyStop), but a session closed as interrupted, or void, stays so.
var Transitions = []Transition{
	{StatusNone, ReservationAccepted, SessionReserved, ""},
	{SessionReserved, ReservationCancelled, SessionCompleted, "ReservationCancelled"},
	// OCPI ends a reservation that led to no charging COMPLETED.
	{SessionReserved, ReservationExpired, SessionCompleted, "ReservationExpired"},
	{StatusNone, RemoteStartAccepted, SessionPending, ""},
	{SessionPending, RemoteStartTimeout, SessionInvalid, "RemoteStartTimeout"},

	{StatusNone, StartAccepted, SessionActive, ""},
	{SessionReserved, StartAccepted, SessionActive, ""},
	{SessionPending, StartAccepted, SessionActive, ""},
	{StatusNone, StartRefused, SessionInvalid, ""},
	{SessionReserved, StartRefused, SessionInvalid, ""},
	{SessionPending, StartRefused, SessionInvalid, ""},

	{SessionActive, Superseded, SessionInterrupted, ""},
	{SessionStopping, Superseded, SessionInterrupted, ""},

	{SessionActive, RemoteStopAccepted, SessionStopping, ""},

	{SessionActive, StopCompleted, SessionCompleted, ""},
	{SessionStopping, StopCompleted, SessionCompleted, ""},
	{SessionActive, StopInterrupted, SessionInterrupted, ""},
	{SessionStopping, StopInterrupted, SessionInterrupted, ""},
	{SessionCompleted, StopCompleted, SessionCompleted, ""},
	{SessionCompleted, StopInterrupted, SessionCompleted, ""},
	{SessionInterrupted, StopCompleted, SessionInterrupted, ""},
	{SessionInterrupted, StopInterrupted, SessionInterrupted, ""},
	{SessionInvalid, StopCompleted, SessionInvalid, ""},
	{SessionInvalid, StopInterrupted, SessionInvalid, ""},
}

var transitionIndex = func() map[[2]string]Transition {
	m := make(map[[2]string]Transition, len(Transitions))
	for _, t := range Transitions {
		m[[2]string{string(t.From), string(t.Event)}] = t
	}
	return m
}()

// Next returns the transition ev makes from status from; ErrConflict when
// ev does not apply to a session in that status.
func Next(from SessionStatus, ev SessionEvent) (Transition, error) {
	t, ok := transitionIndex[[2]string{string(from), string(ev)}]
	if !ok {
		if from == StatusNone {
			return Transition{}, fmt.Errorf("%w: %s does not create a session", ErrConflict, ev)
		}
		return Transition{}, fmt.Errorf("%w: %s does not apply to a %s session", ErrConflict, ev, from)
	}
	return t, nil
}

// StopEvent is the event of a stop that leads to status (completed or
// interrupted, as the adapter mapped its protocol's reason).
func StopEvent(status SessionStatus) SessionEvent {
	if status == SessionCompleted {
		return StopCompleted
	}
	return StopInterrupted
}

// Step applies ev to s at time at and returns the changed session: its
// status, and for a final status its end time (kept when already set) and
// stop reason (the transition's, else reason). LastUpdated becomes at. It
// does not change s's Version: the store does, when it writes.
func Step(s Session, ev SessionEvent, at time.Time, reason string) (Session, error) {
	t, err := Next(s.Status, ev)
	if err != nil {
		return s, err
	}
	was := s.Status
	s.Status = t.To
	if t.To.Final() && !was.Final() {
		if s.EndedAt == nil {
			end := at
			s.EndedAt = &end
		}
		s.ExpiresAt = nil
		if t.Reason != "" {
			s.StopReason = t.Reason
		} else if reason != "" {
			s.StopReason = reason
		}
	}
	s.LastUpdated = at
	return s, nil
}

// ApplyStop applies a StopTransaction to s: the status of the stop (see
// Transitions: an ended session keeps its own), meter stop, end time,
// reason, and the stop reading as the last register when it is plausible.
// A repeated stop (meter stop already set) changes nothing: changed is
// false. The anomalies are what the stop's reading had wrong; such a
// reading is kept as meter stop but not applied to the energy.
func ApplyStop(s Session, st StopSession) (out Session, changed bool, anomalies []Anomaly, err error) {
	if s.MeterStopWh != nil {
		return s, false, nil, nil
	}
	status := st.Status
	if !status.Final() {
		status = StopReasonStatus(st.Reason)
	}
	ev := StopEvent(status)
	t, err := Next(s.Status, ev)
	if err != nil {
		return s, false, nil, err
	}
	s.Status = t.To
	stop := st.MeterStopWh
	s.MeterStopWh = &stop
	if a, ok := checkRegister(s, float64(stop)); ok {
		s.LastRegisterWh = max(s.LastRegisterWh, float64(stop))
	} else {
		anomalies = append(anomalies, a)
		s.Flags = addFlag(s.Flags, a.Kind)
	}
	s.StopReason = st.Reason
	end := st.EndedAt
	if end.IsZero() {
		end = st.ReceivedAt
	}
	s.EndedAt = &end
	s.ExpiresAt = nil
	s.LastUpdated = st.ReceivedAt
	return s, true, anomalies, nil
}

// addFlag adds kind to flags unless it is there.
func addFlag(flags []string, kind string) []string {
	for _, f := range flags {
		if f == kind {
			return flags
		}
	}
	return append(flags[:len(flags):len(flags)], kind)
}

// The stores' queries select sessions by status. These sets, derived from
// Transitions (and Open), are where they take the statuses from, so that
// no store spells a status or decides a transition itself.

// StatusesFrom returns the statuses ev moves a session out of or keeps it
// in (the statuses it applies to), in the order of Transitions; StatusNone
// is left out.
func StatusesFrom(ev SessionEvent) []SessionStatus {
	var out []SessionStatus
	for _, t := range Transitions {
		if t.Event == ev && t.From != StatusNone {
			out = append(out, t.From)
		}
	}
	return out
}

// SupersededStatus is the status a session still open on a connector takes
// when a later start on that connector supersedes it.
func SupersededStatus() SessionStatus {
	return transitionIndex[[2]string{string(SessionActive), string(Superseded)}].To
}

// OpenStatuses are the statuses of a session that holds its id tag (see
// SessionStatus.Open).
var OpenStatuses = []SessionStatus{SessionPending, SessionActive, SessionStopping}
