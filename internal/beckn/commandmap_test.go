package beckn

import (
	"fmt"
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// TestEveryCommandErrorHasABecknCode: each core command error has its own
// entry in the Beckn table, and commandError uses it.
func TestEveryCommandErrorHasABecknCode(t *testing.T) {
	for _, e := range charging.CommandErrors {
		code := ""
		for _, m := range commandErrorCodes {
			if m.err == e {
				code = m.code
			}
		}
		if code == "" {
			t.Errorf("core command error %q has no Beckn code in commandErrorCodes", e)
			continue
		}
		if got := commandError(fmt.Errorf("wrapped: %w", e), "m").Code; got != code {
			t.Errorf("commandError(%q) code = %s; want %s", e, got, code)
		}
	}
	if got := rejection(&charging.Rejection{Result: charging.CommandResult{Answer: "Occupied"}}); got != "Occupied" {
		t.Errorf("rejection = %q; want Occupied", got)
	}
}
