// Package testenv decides what a test does when something it needs from
// outside Go is missing (Chromium, PostgreSQL, Node.js and npm): skip, with
// a message that says what to install, or, in the full test run
// (CHARGEBRIDGE_TEST_ALL=1, which .ci/run sets), fail, so a missing piece
// cannot pass for a green run.
package testenv

import (
	"os"
	"testing"
)

// AllVar names the environment variable that turns these skips into
// failures.
const AllVar = "CHARGEBRIDGE_TEST_ALL"

// Missing ends the test because something it needs is missing; reason
// says what and how to get it.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(AllVar) != "" {
		t.Fatalf("%s (%s is set: the full test run needs it; see README, Tests)", reason, AllVar)
	}
	t.Skipf("SKIPPED, NOT TESTED: %s (see README, Tests; %s=1 makes this a failure)", reason, AllVar)
}
