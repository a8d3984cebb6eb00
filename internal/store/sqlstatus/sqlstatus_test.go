package sqlstatus

import (
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func TestList(t *testing.T) {
	if got := List(charging.SessionActive, charging.SessionStopping); got != "('active', 'stopping')" {
		t.Errorf("List = %s", got)
	}
	if got := One("it's"); got != "'it''s'" {
		t.Errorf("One quotes as %s", got)
	}
}
