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
