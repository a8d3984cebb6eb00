package charging

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"time"
)

// Charger is a charge point as the central system knows it.
type Charger struct {
	ID string `json:"id"`
	// Registered is true for chargers an operator added; false for chargers
	// admitted by auto-registration.
	Registered      bool   `json:"registered"`
	Vendor          string `json:"vendor,omitempty"`
	Model           string `json:"model,omitempty"`
	SerialNumber    string `json:"serial_number,omitempty"`
	FirmwareVersion string `json:"firmware_version,omitempty"`
	ICCID           string `json:"iccid,omitempty"`
	IMSI            string `json:"imsi,omitempty"`
	MeterType       string `json:"meter_type,omitempty"`
	MeterSerial     string `json:"meter_serial_number,omitempty"`
	// BootStatus is the answer given to the last BootNotification.
	BootStatus BootStatus `json:"boot_status,omitempty"`
	// StrictTimestamps rejects timestamps without a time zone instead of
	// reading them as UTC.
	StrictTimestamps bool       `json:"strict_timestamps"`
	LastBootAt       *time.Time `json:"last_boot_at,omitempty"`
	// LastSeenAt is the last heartbeat (or other message) from the charger.
	LastSeenAt *time.Time  `json:"last_seen_at,omitempty"`
	CreatedAt  time.Time   `json:"created_at"`
	Connectors []Connector `json:"connectors"`
}

// BootStatus is the registration status a BootNotification is answered with.
type BootStatus string

// Boot statuses.
const (
	BootAccepted BootStatus = "Accepted"
	BootPending  BootStatus = "Pending"
	BootRejected BootStatus = "Rejected"
)

// Availability is whether a connector may be used: operative, or taken out
// of service (by the operator, a fault or the charger itself).
type Availability string

// Availabilities.
const (
	Operative   Availability = "Operative"
	Inoperative Availability = "Inoperative"
)

// ConnectorState is what is happening at a connector: free, occupied by a
// vehicle, reserved, charging (or suspended by either side), finishing, or
// faulted. Each adapter maps its protocol's status words to an Availability
// and a ConnectorState (ocpp16.ConnectorSplit, ocpp201.ConnectorSplit).
type ConnectorState string

// Connector states.
const (
	StateAvailable     ConnectorState = "Available"
	StateOccupied      ConnectorState = "Occupied" // a vehicle or a driver is there, no energy flows yet
	StateReserved      ConnectorState = "Reserved"
	StateCharging      ConnectorState = "Charging"
	StateSuspendedEV   ConnectorState = "SuspendedEV"
	StateSuspendedEVSE ConnectorState = "SuspendedEVSE"
	StateFinishing     ConnectorState = "Finishing" // the transaction ended, the vehicle is still plugged in
	StateFaulted       ConnectorState = "Faulted"
	StateUnknown       ConnectorState = "Unknown" // never heard from
)

// StatusOf is the one status word the API, metrics and dashboard show for
// an availability and a state (the words of OCPP 1.6's ChargePointStatus,
// which the API's "status" always had): a fault wins, then being out of
// service; Occupied reads Preparing.
func StatusOf(a Availability, s ConnectorState) ConnectorStatus {
	switch {
	case s == StateFaulted:
		return StatusFaulted
	case a == Inoperative:
		return StatusUnavailable
	case s == StateOccupied:
		return StatusPreparing
	case s == "" || s == StateUnknown:
		return StatusUnknown
	}
	return ConnectorStatus(s)
}

// Split is the availability and state a status word stands for, the
// inverse of StatusOf (a connector out of service is taken as free).
func (st ConnectorStatus) Split() (Availability, ConnectorState) {
	switch st {
	case StatusUnavailable:
		return Inoperative, StateAvailable
	case StatusFaulted:
		return Inoperative, StateFaulted
	case StatusPreparing:
		return Operative, StateOccupied
	case StatusAvailable, StatusReserved, StatusCharging, StatusSuspendedEV, StatusSuspendedEVSE, StatusFinishing:
		return Operative, ConnectorState(st)
	}
	return "", StateUnknown
}

// ConnectorStatus is a connector's status as one word, derived from its
// Availability and ConnectorState (StatusOf). The values are those of OCPP
// 1.6 ChargePointStatus, plus Unknown for a connector never heard from.
type ConnectorStatus string

// Connector statuses.
const (
	StatusAvailable     ConnectorStatus = "Available"
	StatusPreparing     ConnectorStatus = "Preparing"
	StatusCharging      ConnectorStatus = "Charging"
	StatusSuspendedEV   ConnectorStatus = "SuspendedEV"
	StatusSuspendedEVSE ConnectorStatus = "SuspendedEVSE"
	StatusFinishing     ConnectorStatus = "Finishing"
	StatusReserved      ConnectorStatus = "Reserved"
	StatusUnavailable   ConnectorStatus = "Unavailable"
	StatusFaulted       ConnectorStatus = "Faulted"
	StatusUnknown       ConnectorStatus = "Unknown"
)

// Connector is an EVSE of a charger, or one connector of an EVSE; EVSE 0 is
// the charger as a whole.
//
// The unit the core addresses (sessions, commands, OCPI EVSE uids, Beckn
// items, load management) is the EVSE: a 1.6 connector n is EVSE n with
// one connector, connector 1; a 2.0.1 station reports evseId and a
// connectorId within it. ConnectorID holds the EVSE id under the name the
// API has always used; the JSON also says it as "evse_id".
//
// The store keeps one row per connector, keyed (charger, EVSE,
// EVSEConnectorID), each with its own availability and state. A Charger's
// Connectors are its EVSEs (one entry per ConnectorID, as before EVSEs had
// several connectors): each entry's status is folded from its connectors'
// (FoldEVSE), which are listed in EVSEConnectors.
type Connector struct {
	ChargerID   string `json:"-"`
	ConnectorID int    `json:"connector_id"`
	// EVSEConnectorID is the connector's number within its EVSE (2.0.1's
	// connectorId; 1 for a 1.6 connector, 0 for EVSE 0): set on a
	// connector, 0 on an EVSE entry of a Charger.
	EVSEConnectorID int `json:"evse_connector_id,omitempty"`
	// Availability and State are the connector's status as the adapter
	// mapped it; Status is the one word derived from them (StatusOf).
	Availability    Availability    `json:"availability,omitempty"`
	State           ConnectorState  `json:"state,omitempty"`
	Status          ConnectorStatus `json:"status"`
	ErrorCode       string          `json:"error_code,omitempty"`
	Info            string          `json:"info,omitempty"`
	VendorID        string          `json:"vendor_id,omitempty"`
	VendorErrorCode string          `json:"vendor_error_code,omitempty"`
	// StatusAt is the charger's own timestamp of the status (or the time it
	// was received when the charger sent none). An older StatusAt never
	// overwrites a newer one.
	StatusAt  time.Time `json:"status_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Plug is the connector's plug as the charger described it (a 2.0.1
	// station's device model), "" when it did not; Cable is true for a
	// cable fixed to the charger, false for a socket.
	Plug  PlugType `json:"plug,omitempty"`
	Cable bool     `json:"cable,omitempty"`
	// EVSEConnectors are an EVSE entry's connectors, by EVSEConnectorID,
	// each with its own status.
	EVSEConnectors []Connector `json:"evse_connectors,omitempty"`
}

// PlugType is the plug standard of a connector, in the core's words; each
// adapter maps its protocol's onto them (ocpp201.PlugOf), OCPI maps them
// onto its ConnectorType.
type PlugType string

// Plug types.
const (
	PlugCCS1       PlugType = "CCS1"    // Combo Type 1, DC
	PlugCCS2       PlugType = "CCS2"    // Combo Type 2, DC
	PlugCHAdeMO    PlugType = "CHAdeMO" // DC
	PlugTesla      PlugType = "Tesla"   // Tesla Model S type
	PlugType1      PlugType = "Type1"   // IEC 62196 Type 1 (SAE J1772)
	PlugType2      PlugType = "Type2"   // IEC 62196 Type 2 (Mennekes)
	PlugType3      PlugType = "Type3"   // IEC 62196 Type 3 (Scame)
	PlugIEC60309P1 PlugType = "IEC60309-1P-16A"
	PlugIEC60309P3 PlugType = "IEC60309-3P-16A"
	PlugIEC60309L3 PlugType = "IEC60309-3P-32A"
	PlugSchuko     PlugType = "Schuko" // CEE 7/7
	PlugPantograph PlugType = "Pantograph"
)

// DC reports whether the plug carries direct current.
func (p PlugType) DC() bool {
	return p == PlugCCS1 || p == PlugCCS2 || p == PlugCHAdeMO || p == PlugTesla || p == PlugPantograph
}

// EVSEID is the EVSE the connector belongs to (see Connector).
func (c Connector) EVSEID() int { return c.ConnectorID }

// MarshalJSON adds "evse_id" to the connector's fields.
func (c Connector) MarshalJSON() ([]byte, error) {
	type fields Connector
	return json.Marshal(struct {
		fields
		EVSEID int `json:"evse_id"`
	}{fields(c), c.EVSEID()})
}

// DefaultEVSEConnector is the connector number of a status or session that
// names none: connector 1 of its EVSE (a 1.6 connector), 0 for EVSE 0.
func DefaultEVSEConnector(evse, connector int) int {
	if connector > 0 || evse <= 0 {
		return max(connector, 0)
	}
	return 1
}

// evseRank orders statuses for FoldEVSE: an EVSE is what its busiest
// connector is. Only one connector of an EVSE can be in use at a time (they
// share its power), so a cable in use makes the EVSE in use whatever the
// others say; then reserved, then free; faulted or out of service only
// when every connector is.
var evseRank = map[ConnectorStatus]int{
	StatusCharging: 0, StatusSuspendedEVSE: 1, StatusSuspendedEV: 2, StatusFinishing: 3, StatusPreparing: 4,
	StatusReserved: 5, StatusAvailable: 6, StatusFaulted: 7, StatusUnavailable: 8, StatusUnknown: 9,
}

// FoldEVSE is the EVSE entry of one EVSE's connectors (all with the same
// ConnectorID): the status, error and info of its busiest connector
// (evseRank; the lower connector number on a tie), the newest StatusAt and
// UpdatedAt, and the connectors themselves by number.
func FoldEVSE(conns []Connector) Connector {
	if len(conns) == 0 {
		return Connector{}
	}
	sorted := slices.Clone(conns)
	slices.SortFunc(sorted, func(a, b Connector) int { return cmp.Compare(a.EVSEConnectorID, b.EVSEConnectorID) })
	best := 0
	rank := func(c Connector) int {
		if r, ok := evseRank[c.Status]; ok {
			return r
		}
		return len(evseRank)
	}
	for i, c := range sorted {
		if rank(c) < rank(sorted[best]) {
			best = i
		}
	}
	e := sorted[best]
	e.EVSEConnectorID = 0
	for i := range sorted {
		sorted[i].EVSEConnectors = nil
		if sorted[i].StatusAt.After(e.StatusAt) {
			e.StatusAt = sorted[i].StatusAt
		}
		if sorted[i].UpdatedAt.After(e.UpdatedAt) {
			e.UpdatedAt = sorted[i].UpdatedAt
		}
	}
	e.EVSEConnectors = sorted
	return e
}

// GroupEVSEs turns a charger's connector rows (any order) into its EVSE
// entries by EVSE id, each folded by FoldEVSE. Never nil.
func GroupEVSEs(rows []Connector) []Connector {
	byEVSE := map[int][]Connector{}
	var ids []int
	for _, r := range rows {
		if _, ok := byEVSE[r.ConnectorID]; !ok {
			ids = append(ids, r.ConnectorID)
		}
		byEVSE[r.ConnectorID] = append(byEVSE[r.ConnectorID], r)
	}
	slices.Sort(ids)
	out := make([]Connector, 0, len(ids))
	for _, id := range ids {
		out = append(out, FoldEVSE(byEVSE[id]))
	}
	return out
}

// ConnectorRows is what a store keeps of a charger's EVSE entries: one row
// per connector, each entry's EVSEConnectors, or the entry itself as its
// EVSE's only connector (DefaultEVSEConnector) when it lists none.
func ConnectorRows(chargerID string, entries []Connector) []Connector {
	var out []Connector
	for _, e := range entries {
		conns := e.EVSEConnectors
		if len(conns) == 0 {
			conns = []Connector{e}
		}
		for _, k := range conns {
			k.ChargerID, k.ConnectorID = chargerID, e.ConnectorID
			out = append(out, k.Row())
		}
	}
	return out
}

// Row is c as a store keeps it: one connector (DefaultEVSEConnector when
// it names none), with the availability and state its status word stands
// for when it gives only the word.
func (c Connector) Row() Connector {
	c.EVSEConnectorID = DefaultEVSEConnector(c.ConnectorID, c.EVSEConnectorID)
	c.EVSEConnectors = nil
	if c.State == "" {
		c.Availability, c.State = c.Status.Split()
	}
	return c
}

// EVSEConnector is connector n of the EVSE entry e, if e lists it.
func (c Connector) EVSEConnector(n int) (Connector, bool) {
	for _, k := range c.EVSEConnectors {
		if k.EVSEConnectorID == n {
			return k, true
		}
	}
	return Connector{}, false
}

// AuthStatus is the outcome of authorizing an id tag (OCPP AuthorizationStatus).
type AuthStatus string

// Authorization statuses.
const (
	AuthAccepted     AuthStatus = "Accepted"
	AuthBlocked      AuthStatus = "Blocked"
	AuthExpired      AuthStatus = "Expired"
	AuthInvalid      AuthStatus = "Invalid"
	AuthConcurrentTx AuthStatus = "ConcurrentTx"
)

// IDTokenType is how an id token was presented or issued (OCPP 2.0.1's
// IdTokenEnumType; a 1.6 idTag is an ISO14443 RFID card unless the operator
// says otherwise).
type IDTokenType string

// Id token types.
const (
	TokenISO14443        IDTokenType = "ISO14443" // RFID card, 4 or 7 byte UID
	TokenISO15693        IDTokenType = "ISO15693" // RFID vicinity card, 8 byte UID
	TokenEMAID           IDTokenType = "eMAID"    // e-mobility account id (ISO 15118 contract)
	TokenCentral         IDTokenType = "Central"  // issued by the central system (remote start, app)
	TokenKeyCode         IDTokenType = "KeyCode"  // typed in at the charger
	TokenLocal           IDTokenType = "Local"    // made up by the charger
	TokenMacAddress      IDTokenType = "MacAddress"
	TokenNoAuthorization IDTokenType = "NoAuthorization"
)

// IDTokenTypes lists every id token type.
var IDTokenTypes = []IDTokenType{TokenISO14443, TokenISO15693, TokenEMAID, TokenCentral,
	TokenKeyCode, TokenLocal, TokenMacAddress, TokenNoAuthorization}

// Valid reports whether t is one of IDTokenTypes.
func (t IDTokenType) Valid() bool {
	for _, v := range IDTokenTypes {
		if t == v {
			return true
		}
	}
	return false
}

// MaxIDTokenLen is the longest id token the core keeps: 2.0.1's 36
// characters. 1.6 carries at most 20; its adapter refuses longer ones on its
// wire.
const MaxIDTokenLen = 36

// IDTag is an identifier a driver presents (RFID card, app token).
type IDTag struct {
	ID string `json:"id_tag"`
	// Type is how the token is presented; ISO14443 when not given.
	Type      IDTokenType `json:"type"`
	Status    AuthStatus  `json:"status"`
	ExpiresAt *time.Time  `json:"expiry_date,omitempty"`
	ParentID  string      `json:"parent_id_tag,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
}

// IDTagInfo is the answer to an authorization: OCPP's idTagInfo.
type IDTagInfo struct {
	Status    AuthStatus
	ExpiresAt *time.Time
	ParentID  string
}

// SessionStatus is the canonical session status (DESIGN.md's table).
type SessionStatus string

// Session statuses.
const (
	SessionReserved    SessionStatus = "reserved"
	SessionPending     SessionStatus = "pending"
	SessionActive      SessionStatus = "active"
	SessionStopping    SessionStatus = "stopping"
	SessionCompleted   SessionStatus = "completed"
	SessionInterrupted SessionStatus = "interrupted"
	SessionInvalid     SessionStatus = "invalid"
)

// Final reports whether no further transition leaves the status.
func (s SessionStatus) Final() bool {
	return s == SessionCompleted || s == SessionInterrupted || s == SessionInvalid
}

// Open reports whether a session in status s holds its id tag: it is
// waiting for its transaction (pending), charging or stopping.
func (s SessionStatus) Open() bool {
	return s == SessionPending || s == SessionActive || s == SessionStopping
}

// Valid reports whether s is one of the canonical statuses.
func (s SessionStatus) Valid() bool {
	switch s {
	case SessionReserved, SessionPending, SessionActive, SessionStopping,
		SessionCompleted, SessionInterrupted, SessionInvalid:
		return true
	}
	return false
}

// Session is the canonical charging session.
type Session struct {
	ID        string `json:"id"`
	ChargerID string `json:"charger_id"`
	// ConnectorID is the session's EVSE (see Connector); EVSEConnectorID
	// the connector within it, when the charger said (0 for a reservation
	// or remote start not yet taken up).
	ConnectorID     int           `json:"connector_id"`
	EVSEConnectorID int           `json:"evse_connector_id,omitempty"`
	TransactionID   string        `json:"transaction_id"`
	IDTag           string        `json:"id_tag"`
	Status          SessionStatus `json:"status"`
	ReservationID   *int64        `json:"reservation_id,omitempty"`
	MeterStartWh    int64         `json:"meter_start_wh"`
	MeterStopWh     *int64        `json:"meter_stop_wh,omitempty"`
	// LastRegisterWh is the highest energy register reading seen: meterStart,
	// then Energy.Active.Import.Register samples, then meterStop.
	LastRegisterWh float64 `json:"-"`
	MaxPowerKW     float64 `json:"max_power_kw"`
	// LastPowerKW and SoC are the latest observed values, when reported.
	LastPowerKW *float64 `json:"last_power_kw,omitempty"`
	SoC         *float64 `json:"soc_percent,omitempty"`
	// LastPowerAt and SoCAt are the sample timestamps of LastPowerKW and
	// SoC: a sample older than them does not replace them.
	LastPowerAt *time.Time `json:"-"`
	SoCAt       *time.Time `json:"-"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	// ExpiresAt ends a reserved or pending session that no StartTransaction
	// took over: the reservation's expiry, or the remote start's deadline.
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	StopReason  string     `json:"stop_reason,omitempty"`
	LastUpdated time.Time  `json:"last_updated"`
	// Flags name the anomalies the charger reported for the session
	// (Anomaly kinds): stored as reported, not applied to its energy.
	Flags []string `json:"flags,omitempty"`
	// Version counts the session's writes: the store writes a change only
	// over the version it was computed from (compare-and-set) and bumps
	// it. Version n is also the Seq of the event of the n-th write.
	Version int64 `json:"-"`
	// Seq is the session's primary key in its store (0 when the store
	// has not said): meter values are written to it by Seq, not looked up
	// by transaction id.
	Seq int64 `json:"-"`
	// MeterVersion counts the writes of the session's meter (Meter): a
	// fold is written only over the version it was folded from (compare
	// and set, SessionStore.WriteMeterValues), and every store write that
	// changes the meter bumps it.
	MeterVersion int64 `json:"-"`
}

// Meter is what meter values change in a session (Fold): the store keeps
// it apart from the rest, and writes it by itself on each MeterValues.
type Meter struct {
	LastRegisterWh float64
	MaxPowerKW     float64
	LastPowerKW    *float64
	LastPowerAt    *time.Time
	SoC            *float64
	SoCAt          *time.Time
	LastUpdated    time.Time
}

// Meter returns the session's meter.
func (s *Session) Meter() Meter {
	return Meter{LastRegisterWh: s.LastRegisterWh, MaxPowerKW: s.MaxPowerKW, LastPowerKW: s.LastPowerKW,
		LastPowerAt: s.LastPowerAt, SoC: s.SoC, SoCAt: s.SoCAt, LastUpdated: s.LastUpdated}
}

// SetMeter replaces the session's meter with m.
func (s *Session) SetMeter(m Meter) {
	s.LastRegisterWh, s.MaxPowerKW, s.LastPowerKW, s.LastPowerAt = m.LastRegisterWh, m.MaxPowerKW, m.LastPowerKW, m.LastPowerAt
	s.SoC, s.SoCAt, s.LastUpdated = m.SoC, m.SoCAt, m.LastUpdated
}

// KWh is the energy delivered so far: (last register − meterStart) / 1000,
// never negative. A negative meterStart (a charger's error, flagged when it
// came) counts as 0: a register never reads below zero.
func (s *Session) KWh() float64 {
	wh := s.LastRegisterWh - float64(max(s.MeterStartWh, 0))
	if wh < 0 || math.IsNaN(wh) {
		return 0
	}
	return wh / 1000
}

// Duration is the session's length: until it ended, or until now.
func (s *Session) Duration(now time.Time) time.Duration {
	end := now
	if s.EndedAt != nil {
		end = *s.EndedAt
	}
	if end.Before(s.StartedAt) {
		return 0
	}
	return end.Sub(s.StartedAt)
}

// StopReasonStatus is the stores' fallback for a stop that carries no final
// status.
//
// Deprecated: the adapters map their protocol's stop reasons
// (ocpp16.StopStatus, ocpp201.StopStatus) and the core passes the result;
// this goes when the stores stop calling it.
func StopReasonStatus(reason string) SessionStatus {
	switch reason {
	case "", "Local", "Remote", "EVDisconnected":
		return SessionCompleted
	}
	return SessionInterrupted
}
