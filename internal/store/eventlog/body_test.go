package eventlog

import (
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// TestDecodeBodyTransactionIDs: bodies written before transaction ids were
// strings (#12) hold numbers; they read as the same ids in decimal, and a
// new body round-trips.
func TestDecodeBodyTransactionIDs(t *testing.T) {
	tests := []struct {
		name, body, wantTx, wantSessionTx string
	}{
		{"old-numbers", `{"transaction_id":7,"session":{"id":"s","transaction_id":7}}`, "7", "7"},
		{"old-no-transaction", `{"session":{"id":"s","transaction_id":0}}`, "", ""},
		{"strings", `{"transaction_id":"TX-1","session":{"id":"s","transaction_id":"TX-1"}}`, "TX-1", "TX-1"},
		{"no-session", `{"transaction_id":"42"}`, "42", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e charging.Event
			if err := DecodeBody([]byte(tt.body), &e); err != nil {
				t.Fatal(err)
			}
			if e.TransactionID != tt.wantTx {
				t.Errorf("event transaction %q; want %q", e.TransactionID, tt.wantTx)
			}
			if got := ""; e.Session != nil {
				if got = e.Session.TransactionID; got != tt.wantSessionTx || e.Session.ID != "s" {
					t.Errorf("session %+v; want s with transaction %q", e.Session, tt.wantSessionTx)
				}
			} else if tt.wantSessionTx != "" {
				t.Errorf("no session; want one with transaction %q", tt.wantSessionTx)
			}
		})
	}
	in := charging.Event{Kind: charging.SessionChanged, TransactionID: "TX-9",
		Session: &charging.Session{ID: "s", TransactionID: "TX-9", LastRegisterWh: 1500}}
	b, err := EncodeBody(in)
	if err != nil {
		t.Fatal(err)
	}
	var out charging.Event
	if err := DecodeBody(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.TransactionID != "TX-9" || out.Session == nil || out.Session.TransactionID != "TX-9" || out.Session.LastRegisterWh != 1500 {
		t.Errorf("round trip of %s: %+v %+v", b, out, out.Session)
	}
}

func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte(`{"transaction_id":7,"session":{"id":"s","transaction_id":7}}`))
	f.Add([]byte(`{"transaction_id":"x","connector":{"connector_id":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e charging.Event
		_ = DecodeBody(data, &e)
	})
}
