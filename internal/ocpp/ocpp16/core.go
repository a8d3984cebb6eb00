package ocpp16

import (
	"strconv"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// startKey is the core's retry key for a StartTransaction: a charger that
// missed our answer repeats the same connector, idTag, timestamp and
// meterStart, and must get the same transaction id back.
func startKey(m StartTransactionReq, ts time.Time) string {
	return strconv.Itoa(m.ConnectorID) + "|" + m.IDTag + "|" +
		ts.UTC().Format(time.RFC3339Nano) + "|" + strconv.FormatInt(m.MeterStart, 10)
}

// StopStatus maps a StopTransaction's reason to the session's final status
// and the reason text kept: Local (also when absent, the spec's default),
// Remote and EVDisconnected end a session normally; EmergencyStop,
// PowerLoss, Reboot, HardReset, SoftReset, UnlockCommand, DeAuthorized,
// Other and anything unknown interrupt it.
func StopStatus(reason string) (charging.SessionStatus, string) {
	switch reason {
	case "":
		return charging.SessionCompleted, "Local"
	case "Local", "Remote", "EVDisconnected":
		return charging.SessionCompleted, reason
	}
	return charging.SessionInterrupted, reason
}

// ConnectorSplit maps a StatusNotification's status (ChargePointStatus) to
// the core's availability and state: Unavailable is out of service (taken
// as free), Faulted out of service and faulted, Preparing is Occupied, the
// other words are states of an operative connector; an unknown word is
// Unknown.
func ConnectorSplit(status string) (charging.Availability, charging.ConnectorState) {
	switch status {
	case "Available":
		return charging.Operative, charging.StateAvailable
	case "Preparing":
		return charging.Operative, charging.StateOccupied
	case "Charging":
		return charging.Operative, charging.StateCharging
	case "SuspendedEV":
		return charging.Operative, charging.StateSuspendedEV
	case "SuspendedEVSE":
		return charging.Operative, charging.StateSuspendedEVSE
	case "Finishing":
		return charging.Operative, charging.StateFinishing
	case "Reserved":
		return charging.Operative, charging.StateReserved
	case "Unavailable":
		return charging.Inoperative, charging.StateAvailable
	case "Faulted":
		return charging.Inoperative, charging.StateFaulted
	}
	return "", charging.StateUnknown
}
