package ocpp16

import (
	"fmt"
	"strconv"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// A 1.6 transactionId is an integer on the wire; the core's transaction id
// is a string, unique per charger. The core draws 1.6 ids from its
// sequence (a StartRequest without TransactionID) and keeps them in
// decimal, so each converts both ways.

// CoreTransactionID is the core's id of a 1.6 transactionId (nil for nil).
func CoreTransactionID(tx *int64) *string {
	if tx == nil {
		return nil
	}
	s := strconv.FormatInt(*tx, 10)
	return &s
}

// WireTransactionID is the 1.6 transactionId of a core transaction id;
// ErrConflict for one that is no 1.6 integer (a transaction the charger
// started under another protocol version).
func WireTransactionID(tx string) (int64, error) {
	n, err := strconv.ParseInt(tx, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: transaction %q is not a 1.6 transaction id (an integer)", charging.ErrConflict, tx)
	}
	return n, nil
}
