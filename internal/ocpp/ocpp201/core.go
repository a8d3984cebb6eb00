package ocpp201

import "github.com/chargebridge/chargebridge/internal/charging"

// StopStatus maps a TransactionEvent Ended's stoppedReason to the session's
// final status and the reason text kept. The normal ends of a session
// (Local, also when absent, Remote, EVDisconnected, StoppedByEV,
// SOCLimitReached, EnergyLimitReached, TimeLimitReached, LocalOutOfCredit)
// complete it; DeAuthorized, EmergencyStop, GroundFault, ImmediateReset,
// MasterPass, OvercurrentFault, PowerLoss, PowerQuality, Reboot, Timeout,
// Other and anything unknown interrupt it.
func StopStatus(reason string) (charging.SessionStatus, string) {
	switch reason {
	case "":
		return charging.SessionCompleted, "Local"
	case "Local", "Remote", "EVDisconnected", "StoppedByEV", "SOCLimitReached",
		"EnergyLimitReached", "TimeLimitReached", "LocalOutOfCredit":
		return charging.SessionCompleted, reason
	}
	return charging.SessionInterrupted, reason
}

// ConnectorSplit maps a StatusNotification's connectorStatus
// (ConnectorStatusEnumType) to the core's availability and state. 2.0.1
// says only that a connector is Occupied; whether it charges comes from the
// transaction's chargingState (ChargingState). Unavailable is out of
// service, taken as free; Faulted is out of service and faulted.
func ConnectorSplit(status string) (charging.Availability, charging.ConnectorState) {
	switch status {
	case "Available":
		return charging.Operative, charging.StateAvailable
	case "Occupied":
		return charging.Operative, charging.StateOccupied
	case "Reserved":
		return charging.Operative, charging.StateReserved
	case "Unavailable":
		return charging.Inoperative, charging.StateAvailable
	case "Faulted":
		return charging.Inoperative, charging.StateFaulted
	}
	return "", charging.StateUnknown
}

// ChargingState is the connector state a TransactionEvent says: its
// chargingState while the transaction runs, Finishing once it ended; ""
// when it says nothing new (Idle: no vehicle yet, or none given).
func ChargingState(eventType, chargingState string) charging.ConnectorState {
	if eventType == "Ended" {
		return charging.StateFinishing
	}
	switch chargingState {
	case "Charging":
		return charging.StateCharging
	case "SuspendedEV":
		return charging.StateSuspendedEV
	case "SuspendedEVSE":
		return charging.StateSuspendedEVSE
	case "EVConnected":
		return charging.StateOccupied
	}
	return ""
}
