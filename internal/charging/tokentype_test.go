package charging_test

import (
	"context"
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// A token is what it was registered as: the UID of an RFID card typed in as
// a key code, or presented as an eMAID, is refused; a station that asks no
// token (NoAuthorization) is not refused.
func TestAuthorizeTyped(t *testing.T) {
	c := newCore(t, charging.Config{})
	c.charger(t, "cp-1")
	c.tag(t, charging.IDTag{ID: "CARD1", Type: charging.TokenISO14443, Status: charging.AuthAccepted})
	ctx := context.Background()
	for _, tt := range []struct {
		tag  string
		typ  charging.IDTokenType
		want charging.AuthStatus
	}{
		{"CARD1", charging.TokenISO14443, charging.AuthAccepted},
		{"CARD1", "", charging.AuthAccepted}, // 1.6: the type is not said
		{"CARD1", charging.TokenKeyCode, charging.AuthInvalid},
		{"CARD1", charging.TokenEMAID, charging.AuthInvalid},
		{"CARD1", charging.TokenCentral, charging.AuthAccepted}, // a remote start's token
		{"", charging.TokenNoAuthorization, charging.AuthAccepted},
		{"UNKNOWN", charging.TokenISO14443, charging.AuthInvalid},
	} {
		info, err := c.svc.AuthorizeTyped(ctx, "cp-1", tt.tag, tt.typ)
		if err != nil || info.Status != tt.want {
			t.Errorf("AuthorizeTyped(%q, %q) = %s, %v; want %s", tt.tag, tt.typ, info.Status, err, tt.want)
		}
	}
	res := c.start(t, charging.StartRequest{ChargerID: "cp-1", ConnectorID: 1, IDTag: "CARD1", TokenType: charging.TokenKeyCode})
	if res.Session.Status != charging.SessionInvalid || res.IDTagInfo.Status != charging.AuthInvalid {
		t.Errorf("start with the card typed in as a key code: session %s, token %s; want invalid, Invalid", res.Session.Status, res.IDTagInfo.Status)
	}
}
