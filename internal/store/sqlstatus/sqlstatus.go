// Package sqlstatus writes the core's session statuses into the stores' SQL
// text. The stores select sessions by status but never spell one: each
// query takes its statuses from internal/charging (the state machine's
// sets), so the rules stay in one place and the query text stays constant
// for the planner.
package sqlstatus

import (
	"strings"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// One returns s as an SQL string literal.
func One(s charging.SessionStatus) string {
	return "'" + strings.ReplaceAll(string(s), "'", "''") + "'"
}

// List returns sts as a parenthesized SQL list for IN: ('a', 'b').
func List(sts ...charging.SessionStatus) string {
	parts := make([]string, len(sts))
	for i, s := range sts {
		parts[i] = One(s)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
