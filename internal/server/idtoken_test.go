package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/chargebridge/chargebridge/internal/cbtest"
)

// TestIDTokenTypeAndLength: an operator registers a 36-character eMAID
// with its type; the API lists it with the type, a 2.0.1 station gets it
// accepted, and a 1.6 charger cannot send it (its schema caps idTag at 20).
func TestIDTokenTypeAndLength(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	const emaid = "NL-CBR-C12345678-X-0123456789ABCDEF0" // 36 characters
	if st := s.PostJSON("/api/v1/tags", map[string]any{"id_tag": emaid, "type": "eMAID"}, nil); st != http.StatusCreated {
		t.Fatalf("add eMAID tag: status %d; want 201", st)
	}
	if st := s.PostJSON("/api/v1/tags", map[string]any{"id_tag": "CARD", "type": "Barcode"}, nil); st != http.StatusBadRequest {
		t.Errorf("add tag of unknown type: status %d; want 400", st)
	}
	if st := s.PostJSON("/api/v1/tags", map[string]any{"id_tag": "CARD"}, nil); st != http.StatusCreated {
		t.Fatalf("add tag without type: status %d; want 201", st)
	}
	var tags struct {
		Items []struct {
			ID   string `json:"id_tag"`
			Type string `json:"type"`
		} `json:"items"`
	}
	if code := s.GetJSON("/api/v1/tags", &tags); code != 200 {
		t.Fatalf("GET tags: %d", code)
	}
	got := map[string]string{}
	for _, tg := range tags.Items {
		got[tg.ID] = tg.Type
	}
	if got[emaid] != "eMAID" || got["CARD"] != "ISO14443" {
		t.Errorf("tag types = %v; want the eMAID as eMAID and CARD as ISO14443", got)
	}

	st, err := cbtest.DialURL(t, s.WSURL()+"/ID201", "ocpp2.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var bootConf struct{ Status string }
	st.MustCall("BootNotification", json.RawMessage(`{"chargingStation":{"model":"M2","vendorName":"V2"},"reason":"PowerUp"}`), &bootConf)
	answerBaseReport(t, st)
	var auth struct{ IDTokenInfo struct{ Status string } }
	st.MustCall("Authorize", json.RawMessage(`{"idToken":{"idToken":"`+emaid+`","type":"eMAID"}}`), &auth)
	if auth.IDTokenInfo.Status != "Accepted" {
		t.Errorf("2.0.1 Authorize of the 36-character eMAID: %+v; want Accepted", auth)
	}
	// The RFID card's UID typed in at the keypad is not the card.
	st.MustCall("Authorize", json.RawMessage(`{"idToken":{"idToken":"CARD","type":"KeyCode"}}`), &auth)
	if auth.IDTokenInfo.Status != "Invalid" {
		t.Errorf("2.0.1 Authorize of the ISO14443 card CARD as a KeyCode: %+v; want Invalid", auth)
	}
	st.MustCall("Authorize", json.RawMessage(`{"idToken":{"idToken":"CARD","type":"ISO14443"}}`), &auth)
	if auth.IDTokenInfo.Status != "Accepted" {
		t.Errorf("2.0.1 Authorize of the card CARD as ISO14443: %+v; want Accepted", auth)
	}

	c := s.MustDial("ID16")
	boot(t, c)
	if code := cbtest.ErrorCode(c.Call("Authorize", map[string]any{"idTag": emaid})); code != "PropertyConstraintViolation" {
		t.Errorf("1.6 Authorize of a 36-character tag: %q; want PropertyConstraintViolation (1.6 caps idTag at 20)", code)
	}
}
