package ocpp201

import (
	"strconv"
	"sync"
)

// An EVSE of a 2.0.1 station may have several connectors (a DC unit with a
// CCS and a CHAdeMO cable on one power module), each reporting its own
// StatusNotification; only one can be in use at a time. The core keeps a
// status per EVSE (OCPI's EVSE, one Beckn item), so the adapter folds the
// connectors' statuses into the EVSE's: a plug-in on one connector followed
// by "Available" from the other must not make the EVSE look free.

// evseStatuses remembers the last status of each connector of each EVSE,
// per station, until the station boots again.
type evseStatuses struct {
	mu sync.Mutex
	// m: station → "evse/connector" → ConnectorStatusEnum.
	m map[string]map[string]string
}

// set records connector's status and returns the EVSE's.
func (e *evseStatuses) set(station string, evse, connector int, status string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]map[string]string{}
	}
	if e.m[station] == nil {
		e.m[station] = map[string]string{}
	}
	prefix := strconv.Itoa(evse) + "/"
	e.m[station][prefix+strconv.Itoa(connector)] = status
	var all []string
	for k, s := range e.m[station] {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			all = append(all, s)
		}
	}
	return evseStatus(all)
}

// forget drops a station's statuses (it booted: it reports them again).
func (e *evseStatuses) forget(station string) {
	e.mu.Lock()
	delete(e.m, station)
	e.mu.Unlock()
}

// evseStatus is the status of an EVSE whose connectors report statuses:
// in use when one is (Occupied), else reserved when one is, else available
// when one is, else unavailable or faulted (faulted when one is).
func evseStatus(connectors []string) string {
	has := map[string]bool{}
	for _, s := range connectors {
		has[s] = true
	}
	for _, s := range []string{"Occupied", "Reserved", "Available", "Faulted", "Unavailable"} {
		if has[s] {
			return s
		}
	}
	if len(connectors) > 0 {
		return connectors[0]
	}
	return ""
}
