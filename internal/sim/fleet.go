package sim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
)

// Stats is a snapshot of a charger's or a fleet's counters.
type Stats struct {
	// Connected is how many chargers have an open connection now.
	Connected int64
	// Connects and Disconnects count connections opened and closed or lost.
	Connects, Disconnects int64
	// DialErrors counts failed connection attempts.
	DialErrors int64
	// SessionsStarted counts transactions started; SessionsCompleted counts
	// StopTransactions the central system acknowledged.
	SessionsStarted, SessionsCompleted int64
	// EnergyKWh is the energy delivered so far.
	EnergyKWh float64
	// CallsSent counts CALLs sent, retries included.
	CallsSent int64
	// CallErrors counts CALLERROR answers to the chargers' calls (answers
	// to deliberately malformed frames excepted).
	CallErrors int64
	// RetryMismatches counts retried StartTransactions answered with another
	// transactionId than the first time.
	RetryMismatches int64
	// Errors counts everything that went wrong: failed dials, calls without
	// answer, CALLERRORs, bad frames and answers, write failures.
	Errors int64
	// ProfilesSet counts the charging profiles accepted (SetChargingProfile).
	ProfilesSet int64
}

// counters are the live counters behind Stats.
type counters struct {
	connected, connects, disconnects, dialErrors atomic.Int64
	sessionsStarted, sessionsCompleted, energyWh atomic.Int64
	calls, callErrors, retryMismatches, errors   atomic.Int64
	profilesSet                                  atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Connected:         c.connected.Load(),
		Connects:          c.connects.Load(),
		Disconnects:       c.disconnects.Load(),
		DialErrors:        c.dialErrors.Load(),
		SessionsStarted:   c.sessionsStarted.Load(),
		SessionsCompleted: c.sessionsCompleted.Load(),
		EnergyKWh:         float64(c.energyWh.Load()) / 1000,
		CallsSent:         c.calls.Load(),
		CallErrors:        c.callErrors.Load(),
		RetryMismatches:   c.retryMismatches.Load(),
		Errors:            c.errors.Load(),
		ProfilesSet:       c.profilesSet.Load(),
	}
}

// Fleet runs many chargers that share one Config, at most MaxDialing of them
// dialing at a time, and counts for all of them together.
type Fleet struct {
	cfg      Config
	chargers []*Charger
	ctr      counters
	running  atomic.Bool
}

// NewFleet returns a fleet of n chargers with ids cfg.IDPrefix followed by a
// five-digit number from 1, spread round-robin over cfg.LocalAddrs.
func NewFleet(cfg Config, n int) (*Fleet, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("fleet: want at least 1 charger, got %d", n)
	}
	f := &Fleet{cfg: c, chargers: make([]*Charger, n)}
	sem := make(chan struct{}, c.MaxDialing)
	for i := range n {
		ch, err := newCharger(&f.cfg, fmt.Sprintf("%s%05d", c.IDPrefix, i+1), &f.ctr, sem, localAddr(c, i))
		if err != nil {
			return nil, fmt.Errorf("fleet: %w", err)
		}
		if c.Every201 > 0 && (i+1)%c.Every201 == 0 {
			ch.v201 = true
		}
		f.chargers[i] = ch
	}
	return f, nil
}

func localAddr(c Config, i int) (a netip.Addr) {
	if len(c.LocalAddrs) > 0 {
		a = c.LocalAddrs[i%len(c.LocalAddrs)]
	}
	return a
}

// Chargers returns the fleet's chargers, for commands such as StartSession.
func (f *Fleet) Chargers() []*Charger { return f.chargers }

// Stats returns the fleet's counters.
func (f *Fleet) Stats() Stats { return f.ctr.snapshot() }

// Run runs every charger until ctx is done, then closes their connections and
// returns nil once all their goroutines have ended. A Fleet runs only once.
func (f *Fleet) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("fleet: Run called twice")
	}
	for _, c := range f.chargers {
		_ = c.start() // cannot fail: the fleet starts each charger once
	}
	<-ctx.Done()
	for _, c := range f.chargers {
		c.halt()
	}
	for _, c := range f.chargers {
		c.wg.Wait()
	}
	return nil
}
