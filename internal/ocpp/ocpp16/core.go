package ocpp16

import (
	"strconv"
	"time"
)

// startKey is the core's retry key for a StartTransaction: a charger that
// missed our answer repeats the same connector, idTag, timestamp and
// meterStart, and must get the same transaction id back.
func startKey(m StartTransactionReq, ts time.Time) string {
	return strconv.Itoa(m.ConnectorID) + "|" + m.IDTag + "|" +
		ts.UTC().Format(time.RFC3339Nano) + "|" + strconv.FormatInt(m.MeterStart, 10)
}
