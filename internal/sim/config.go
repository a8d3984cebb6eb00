package sim

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Clock tells the time written into the messages a charger sends. Scheduling
// (intervals, timeouts, backoff) always runs on the monotonic wall clock; the
// Clock only decides what the timestamps say.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now().UTC() }

// DurationRange is a range of durations; values are drawn uniformly from
// [Min, Max].
type DurationRange struct{ Min, Max time.Duration }

func (r DurationRange) draw(rng *rand.Rand) time.Duration {
	if r.Max <= r.Min {
		return r.Min
	}
	return r.Min + time.Duration(rng.Int64N(int64(r.Max-r.Min)+1))
}

func (r DurationRange) check(name string) error {
	if r.Min < 0 || r.Max < r.Min {
		return fmt.Errorf("%s: want 0 <= Min <= Max, got Min %v, Max %v", name, r.Min, r.Max)
	}
	return nil
}

// KWhRange is a range of energies in kWh; values are drawn uniformly from
// [Min, Max].
type KWhRange struct{ Min, Max float64 }

func (r KWhRange) draw(rng *rand.Rand) float64 {
	if r.Max <= r.Min {
		return r.Min
	}
	return r.Min + rng.Float64()*(r.Max-r.Min)
}

// StopReasonWeight gives a StopTransaction reason its relative frequency in
// Config.StopReasons.
type StopReasonWeight struct {
	Reason string
	Weight float64
}

// stopReasons are the OCPP 1.6 StopTransaction reasons.
var stopReasons = []string{"EmergencyStop", "EVDisconnected", "HardReset", "Local", "Other", "PowerLoss",
	"Reboot", "Remote", "SoftReset", "UnlockCommand", "DeAuthorized"}

// defaultStopReasons is the stop-reason mix used when Config.StopReasons is
// empty (never modified): mostly the driver ending the session at the charger or unplugging,
// some stops from an app, and the occasional odd one.
var defaultStopReasons = []StopReasonWeight{
	{"Local", 50}, {"EVDisconnected", 35}, {"Remote", 9},
	{"Other", 2}, {"PowerLoss", 2}, {"EmergencyStop", 1}, {"Reboot", 1},
}

// defaultIDTags are the id tags drawn from when Config.IDTags is empty: RFID
// card UIDs as real readers report them (never modified).
var defaultIDTags = []string{"04A2B3C4D5E680", "04B7F21A3C5D80", "0411AA22BB33CC", "04C0FFEE123456", "04DEADBEEF0042", "04E1E2E3E4E5E6"}

// Faults switches on behaviour real chargers show and a central system must
// survive. The zero value switches everything off. Probabilities are from 0
// to 1; the per-session ones are drawn when a transaction starts, and the fault
// then strikes at a random moment while it charges.
type Faults struct {
	// DropConnection is the probability that a session's charger loses its
	// connection once while charging; it reconnects at once with backoff.
	DropConnection float64
	// GoOffline is the probability that a session's charger goes offline
	// while charging for a time drawn from OfflineTime, queueing its
	// transaction messages meanwhile.
	GoOffline float64
	// OfflineTime is how long an outage lasts; the default is 1 to 5 minutes.
	OfflineTime DurationRange
	// RetryStart is the probability that a StartTransaction is sent a second
	// time, unchanged, after its answer (as a charger does that missed the
	// answer). The charger checks that both answers carry the same
	// transactionId and counts a mismatch in Stats.RetryMismatches.
	RetryStart float64
	// NaiveTimestamps is the probability that a message's timestamps are
	// written without a zone ("2025-03-01T10:00:00", UTC wall time).
	NaiveTimestamps float64
	// MalformedFrame is the probability that a Heartbeat goes out as a
	// truncated, unparseable frame. The central system should answer it with
	// a CALLERROR; a missing answer times out and the charger reconnects.
	MalformedFrame float64
	// RebootMidTransaction is the probability that a session's charger
	// reboots while charging and forgets the transaction without sending
	// StopTransaction.
	RebootMidTransaction float64
}

// Config describes simulated charge points. Zero fields take the documented
// defaults; NewCharger and NewFleet validate it. A Config may be shared by many
// chargers and must not be changed while they run.
type Config struct {
	// URL is the central system's OCPP base URL, such as
	// ws://127.0.0.1:8080/ocpp; a charger connects to URL/{chargePointId}
	// with subprotocol ocpp1.6. Required. Several base URLs separated by
	// commas are the nodes of a cluster: each charger starts at one (chosen
	// by its id, so a fleet spreads over them) and, when a connection
	// attempt fails (its node died), tries the next one.
	URL string
	// Protocol is the OCPP version the chargers speak: "1.6" (the
	// default, subprotocol ocpp1.6) or "2.0.1" (subprotocol ocpp2.0.1:
	// TransactionEvent instead of Start/StopTransaction and MeterValues,
	// the CSMS's 2.0.1 commands; see ocpp201.go).
	Protocol string
	// OneEVSE (2.0.1 stations) makes the station's connectors connectors
	// 1…Connectors of one EVSE 1 (a DC unit with a CCS and a Type 2 cable
	// on one power module), instead of one EVSE with one connector each.
	// Each reports its own StatusNotification and runs its own sessions;
	// a command naming EVSE 1 and no connector is for the first free one.
	OneEVSE bool
	// ConnectorTypes (2.0.1 stations) are the ConnectorType of connectors
	// 1, 2, … in the station's device model (cCCS2, cType2, sType2, …);
	// none reported when empty.
	ConnectorTypes []string
	// Every201, in a Fleet, makes every Every201-th charger (the third,
	// sixth, … for 3) a 2.0.1 station whatever Protocol says: a mixed
	// fleet, as `chargebridge demo` runs. Zero: none.
	Every201 int
	// Password is the Basic-auth password (OCPP security profiles 1 and 2)
	// every charger starts with; the central system may change a charger's
	// with ChangeConfiguration AuthorizationKey.
	Password string
	// TLS configures wss:// URLs: RootCAs that sign the central system's
	// certificate and, for security profile 3, the client certificate
	// (LoadTLS builds it from files). A CertificateSigned for the
	// charger's own CSR replaces the client certificate.
	TLS *tls.Config
	// IDPrefix starts the id of every charger of a Fleet, which appends a
	// five-digit number from 1 ("SIM-00001"). The default is "SIM-".
	IDPrefix string
	// Connectors is the number of connectors per charger (default 2).
	Connectors int
	// Vendor and Model go into BootNotification (defaults "chargebridge" and
	// "SIM-DC50"; at most 20 characters each).
	Vendor, Model string
	// MaxPowerKW is what one connector can deliver (default 50 kW DC).
	MaxPowerKW float64

	// MeterInterval is the MeterValues sampling interval (default 60 s); the
	// central system may change it through MeterValueSampleInterval.
	MeterInterval time.Duration
	// SessionLength bounds how long a session lasts in wall time (default 20
	// to 90 minutes); a session also ends once its energy is delivered or the
	// battery is full.
	SessionLength DurationRange
	// Energy is the energy a driver wants, in kWh (default 5 to 40).
	Energy KWhRange
	// IdleTime is how long a connector stays free between sessions (default
	// 5 to 60 minutes).
	IdleTime DurationRange
	// FinishingTime is how long the driver takes to unplug after a session
	// (default 10 to 60 seconds).
	FinishingTime DurationRange
	// TimeScale speeds up the battery: one second of wall time charges as
	// TimeScale seconds would (default 1). It lets short demo or test
	// sessions deliver realistic energy at realistic power; timestamps stay
	// wall-clock.
	TimeScale float64
	// IDTags are the id tags drivers present (default: six RFID card UIDs).
	IDTags []string
	// StopReasons is the stop-reason mix (default: Local 50, EVDisconnected
	// 35, Remote 9, Other 2, PowerLoss 2, EmergencyStop 1, Reboot 1).
	StopReasons []StopReasonWeight
	// RejectChargingProfiles answers every SetChargingProfile with
	// Rejected, as a charger without smart charging (or with it switched
	// off) does.
	RejectChargingProfiles bool
	// OmitReservationID leaves reservationId out of StartTransaction on a
	// reserved connector, as chargers do (OCPP 1.6 makes it optional).
	OmitReservationID bool
	// NoAutoStart keeps chargers from starting sessions by themselves; they
	// still start them on RemoteStartTransaction or StartSession.
	NoAutoStart bool

	// Saturate makes each charger, once booted, start one transaction on
	// connector 1 and send MeterValues back to back with one outstanding
	// call, for the load benchmark. Sessions are then not planned: the
	// session settings, MeterInterval and the per-session faults go unused;
	// heartbeats go on.
	Saturate bool
	// SaturateInterval paces saturation mode: each charger sends one
	// MeterValues per interval instead of back to back, so a fleet offers a
	// known rate (chargers / interval) for latency measurements.
	SaturateInterval time.Duration
	// Latency, when set, receives the CALL→CALLRESULT latency of every call
	// every charger sends.
	Latency *Histogram

	// Faults switches on misbehaviour; off by default. DropConnection,
	// GoOffline and RebootMidTransaction are exclusive per session, so
	// their sum must not exceed 1.
	Faults Faults

	// IntervalUnit is the length of one "second" in the intervals the
	// central system gives (BootNotification interval, HeartbeatInterval,
	// MeterValueSampleInterval, TransactionMessageRetryInterval). It is
	// time.Second (the default) except in tests, which shrink it.
	IntervalUnit time.Duration
	// StepTime is how long a simulated step of a firmware update, a
	// diagnostics or log upload, or the wait before a reset takes (default 2 s).
	StepTime time.Duration
	// RebootTime is how long a reboot keeps the charger away (default 5 s).
	RebootTime time.Duration
	// DialTimeout bounds a connection attempt including the WebSocket
	// handshake (default 10 s).
	DialTimeout time.Duration
	// CallTimeout bounds the wait for the answer to a call; on expiry the
	// charger drops the connection and reconnects (default 30 s).
	CallTimeout time.Duration
	// WriteTimeout bounds one frame write (default 10 s).
	WriteTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential reconnect backoff,
	// which has jitter (defaults 1 s and 2 min).
	ReconnectMin, ReconnectMax time.Duration
	// MaxDialing bounds how many chargers of a Fleet dial at the same time
	// (default 64).
	MaxDialing int
	// LocalAddrs are source addresses to dial from (such as 127.0.0.2,
	// 127.0.0.3, …) so that one process can open more connections to one
	// server address than one source address has ports. A Fleet spreads its
	// chargers over them round-robin; a lone Charger uses the first.
	LocalAddrs []netip.Addr

	// Seed makes the random choices repeatable: each charger draws from its
	// own generator seeded with Seed and its id. Zero picks a random seed.
	Seed uint64
	// Clock stamps the messages (default the system clock, in UTC).
	Clock Clock
	// Logger receives the chargers' logs (default: discarded).
	Logger *slog.Logger
	// OnRefusal, when set, hears each refusal by the central system: kind
	// is "connect", "boot", "authorize", "start", "call" or "disconnect"
	// (a connection the charger did not mean to close ended: closed by the
	// central system, lost, or a call without answer), reason says
	// why without naming the charger (so a fleet's refusals repeat the
	// same text). It runs on the charger's goroutine and must not block.
	OnRefusal func(kind, reason string)
}

// URLs returns the base URLs of URL (one per node of the central system).
func (c *Config) URLs() []string { return strings.Split(c.URL, ",") }

// withDefaults returns a copy of c with defaults filled in, or an error that
// says which field is wrong and how.
func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, errors.New("sim config: URL is required, such as ws://127.0.0.1:8080/ocpp")
	}
	switch c.Protocol {
	case "":
		c.Protocol = "1.6"
	case "1.6", "2.0.1":
	default:
		return c, fmt.Errorf("sim config: Protocol %q: use 1.6 or 2.0.1", c.Protocol)
	}
	bases := strings.Split(c.URL, ",")
	for i, b := range bases {
		b = strings.TrimRight(strings.TrimSpace(b), "/")
		u, err := url.Parse(b)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return c, fmt.Errorf("sim config: URL %q must be a ws:// or wss:// URL with a host (several: separated by commas)", b)
		}
		bases[i] = b
	}
	c.URL = strings.Join(bases, ",")
	setDefault(&c.IDPrefix, "SIM-")
	setDefault(&c.Connectors, 2)
	setDefault(&c.Vendor, "chargebridge")
	setDefault(&c.Model, "SIM-DC50")
	setDefault(&c.MaxPowerKW, 50)
	setDefault(&c.MeterInterval, 60*time.Second)
	setDefault(&c.SessionLength, DurationRange{20 * time.Minute, 90 * time.Minute})
	setDefault(&c.Energy, KWhRange{5, 40})
	setDefault(&c.IdleTime, DurationRange{5 * time.Minute, 60 * time.Minute})
	setDefault(&c.FinishingTime, DurationRange{10 * time.Second, 60 * time.Second})
	setDefault(&c.TimeScale, 1)
	if len(c.IDTags) == 0 {
		c.IDTags = defaultIDTags
	}
	if len(c.StopReasons) == 0 {
		c.StopReasons = defaultStopReasons
	}
	setDefault(&c.Faults.OfflineTime, DurationRange{time.Minute, 5 * time.Minute})
	setDefault(&c.IntervalUnit, time.Second)
	setDefault(&c.StepTime, 2*time.Second)
	setDefault(&c.RebootTime, 5*time.Second)
	setDefault(&c.DialTimeout, 10*time.Second)
	setDefault(&c.CallTimeout, 30*time.Second)
	setDefault(&c.WriteTimeout, 10*time.Second)
	setDefault(&c.ReconnectMin, time.Second)
	setDefault(&c.ReconnectMax, 2*time.Minute)
	setDefault(&c.MaxDialing, 64)
	if c.Seed == 0 {
		c.Seed = rand.Uint64() | 1
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}

	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Connectors < 1 || c.Connectors > 99 {
		bad("Connectors must be 1 to 99, got %d", c.Connectors)
	}
	if len(c.Vendor) > 20 || len(c.Model) > 20 {
		bad("Vendor and Model must be at most 20 characters (OCPP 1.6 BootNotification)")
	}
	if c.MaxPowerKW <= 0 {
		bad("MaxPowerKW must be positive, got %v", c.MaxPowerKW)
	}
	if c.MeterInterval < 0 {
		bad("MeterInterval must not be negative, got %v", c.MeterInterval)
	}
	for _, r := range []struct {
		name string
		r    DurationRange
	}{{"SessionLength", c.SessionLength}, {"IdleTime", c.IdleTime}, {"FinishingTime", c.FinishingTime},
		{"Faults.OfflineTime", c.Faults.OfflineTime}} {
		if err := r.r.check(r.name); err != nil {
			errs = append(errs, err)
		}
	}
	if c.SessionLength.Max == 0 {
		bad("SessionLength.Max must be positive")
	}
	if c.Energy.Min <= 0 || c.Energy.Max < c.Energy.Min {
		bad("Energy: want 0 < Min <= Max kWh, got Min %v, Max %v", c.Energy.Min, c.Energy.Max)
	}
	if c.TimeScale <= 0 {
		bad("TimeScale must be positive, got %v", c.TimeScale)
	}
	for _, t := range c.IDTags {
		if t == "" || len(t) > 20 {
			bad("IDTags: %q must be 1 to 20 characters (OCPP 1.6 IdToken)", t)
		}
	}
	var total float64
	for _, w := range c.StopReasons {
		if !contains(stopReasons, w.Reason) {
			bad("StopReasons: %q is not an OCPP 1.6 stop reason (one of %s)", w.Reason, strings.Join(stopReasons, ", "))
		}
		if w.Weight < 0 {
			bad("StopReasons: weight of %s must not be negative", w.Reason)
		}
		total += w.Weight
	}
	if total <= 0 {
		bad("StopReasons: the weights must add up to more than 0")
	}
	f := c.Faults
	for _, p := range []struct {
		name string
		p    float64
	}{{"DropConnection", f.DropConnection}, {"GoOffline", f.GoOffline}, {"RetryStart", f.RetryStart},
		{"NaiveTimestamps", f.NaiveTimestamps}, {"MalformedFrame", f.MalformedFrame},
		{"RebootMidTransaction", f.RebootMidTransaction}} {
		if p.p < 0 || p.p > 1 {
			bad("Faults.%s is a probability and must be 0 to 1, got %v", p.name, p.p)
		}
	}
	if f.DropConnection+f.GoOffline+f.RebootMidTransaction > 1 {
		bad("Faults: DropConnection, GoOffline and RebootMidTransaction strike at most one per session and must add up to at most 1")
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"IntervalUnit", c.IntervalUnit}, {"StepTime", c.StepTime}, {"RebootTime", c.RebootTime},
		{"DialTimeout", c.DialTimeout}, {"CallTimeout", c.CallTimeout}, {"WriteTimeout", c.WriteTimeout},
		{"ReconnectMin", c.ReconnectMin}} {
		if d.d <= 0 {
			bad("%s must be positive, got %v", d.name, d.d)
		}
	}
	if c.ReconnectMax < c.ReconnectMin {
		bad("ReconnectMax (%v) must not be below ReconnectMin (%v)", c.ReconnectMax, c.ReconnectMin)
	}
	if c.MaxDialing < 1 {
		bad("MaxDialing must be at least 1, got %d", c.MaxDialing)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("sim config: %w", errors.Join(errs...))
	}
	return c, nil
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
