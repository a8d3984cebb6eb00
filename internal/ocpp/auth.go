package ocpp

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Refusal is the error a Config.Authenticate hook returns to refuse a
// connection attempt before the upgrade: it is answered with Status (and a
// Basic-auth challenge for 401, Retry-After when set).
type Refusal struct {
	Status     int
	Reason     string
	RetryAfter time.Duration
}

func (r *Refusal) Error() string { return r.Reason }

// authenticate runs the Authenticate hook and answers a refusal. It comes
// before anything that looks at an existing connection of the same charger,
// so that a refused attempt never disturbs it.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, id string) bool {
	if s.cfg.Authenticate == nil {
		return true
	}
	err := s.cfg.Authenticate(r, id)
	if err == nil {
		return true
	}
	s.stats.Refused.Add(1)
	if r.Context().Err() != nil {
		// The charger hung up while its credentials were being checked
		// (its connect timeout, under load): no fault of the check.
		s.stats.GaveUp.Add(1)
		if ok, held := s.badLogs.Allow(id, time.Now()); ok {
			s.log.Info("charger gave up during the handshake; connection dropped", "charger", id, "remote", r.RemoteAddr, "held_back", held)
		}
		return false
	}
	s.stats.AuthFailures.Add(1)
	var ref *Refusal
	if !errors.As(err, &ref) {
		s.log.Error("charger authentication failed", "charger", id, "err", err)
		http.Error(w, "authentication failed", http.StatusInternalServerError)
		return false
	}
	writeRefusal(w, ref)
	return false
}

// writeRefusal answers a refused connection attempt: its status, a Basic-
// auth challenge for 401, Retry-After in whole seconds when set.
func writeRefusal(w http.ResponseWriter, ref *Refusal) {
	switch {
	case ref.Status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="chargebridge", charset="UTF-8"`)
	case ref.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int((ref.RetryAfter+time.Second-1)/time.Second)))
	}
	w.Header().Set("Connection", "close")
	http.Error(w, ref.Reason, ref.Status)
}
