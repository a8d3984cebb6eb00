package server_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/chargebridge/chargebridge/internal/cbtest"
)

// TestInvalidUTF8ClosesWith1007: a text message that is not UTF-8 fails the
// connection with 1007 (RFC 6455), and the charger can come back.
func TestInvalidUTF8ClosesWith1007(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	c := s.MustDial("CP-UTF8")
	c.SendRaw("[2,\"m1\",\"Heartbeat\",{\"x\":\"\xff\xfe\"}]")
	_, err := c.Read(5 * time.Second)
	var closed wsutil.ClosedError
	if !errors.As(err, &closed) || closed.Code != ws.StatusInvalidFramePayloadData {
		t.Fatalf("after an invalid UTF-8 message: %v; want a close with 1007", err)
	}
	again := s.MustDial("CP-UTF8")
	boot(t, again)
}

// TestAPIErrorsAreOneLineAndBodiesBounded: an API body over the limit is a
// 413, and error messages are one line (a decode error used to read
// "invalid input\njson: …").
func TestAPIErrorsAreOneLineAndBodiesBounded(t *testing.T) {
	s := cbtest.Start(t, cbtest.AutoRegister)
	big := `{"id":"CP-BIG","x":"` + strings.Repeat("a", 2<<20) + `"}`
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"body-over-the-limit", "POST", "/api/v1/chargers", big, http.StatusRequestEntityTooLarge},
		{"unknown-field", "POST", "/api/v1/chargers", `{"id":"CP-X","colour":"red"}`, http.StatusBadRequest},
		{"not-json", "POST", "/api/v1/tags", `{"id_tag":`, http.StatusBadRequest},
		{"garbage-cursor", "GET", "/api/v1/sessions?cursor=garbage", "", http.StatusBadRequest},
		{"escaped-garbage-cursor", "GET", "/api/v1/sessions?cursor=%ZZ", "", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, b := call(t, s, tt.method, tt.path, tt.body)
			if st != tt.want {
				t.Fatalf("status %d; want %d: %s", st, tt.want, b)
			}
			var e struct{ Error string }
			if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
				t.Fatalf("body %s: want {\"error\": …}", b)
			}
			if strings.ContainsAny(e.Error, "\r\n") {
				t.Errorf("error %q spans lines; want one line", e.Error)
			}
		})
	}
}

// TestChargersArePaged: GET /api/v1/chargers pages like sessions: limit,
// an opaque cursor, next_cursor until the last page; a cursor it did not
// make is a 400.
func TestChargersArePaged(t *testing.T) {
	s := cbtest.Start(t)
	var want []string
	for i := range 7 {
		id := "CP-P" + string(rune('A'+i))
		mustCall(t, s, "POST", "/api/v1/chargers", `{"id":"`+id+`"}`, http.StatusCreated)
		want = append(want, id)
	}
	var got []string
	pages := 0
	for cursor := ""; ; {
		path := "/api/v1/chargers?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page struct {
			Items []struct{ ID string } `json:"items"`
			Next  string                `json:"next_cursor"`
		}
		if err := json.Unmarshal(mustCall(t, s, "GET", path, "", http.StatusOK), &page); err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Items) > 3 || pages > 3 {
			t.Fatalf("page %d has %d chargers; want at most 3 in 3 pages", pages, len(page.Items))
		}
		for _, it := range page.Items {
			got = append(got, it.ID)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if strings.Join(got, ",") != strings.Join(want, ",") || pages != 3 {
		t.Errorf("paged through %v in %d pages; want %v in 3", got, pages, want)
	}
	for _, bad := range []string{"garbage", "%ZZ", "0.0"} {
		if st, b := call(t, s, "GET", "/api/v1/chargers?cursor="+bad, ""); st != http.StatusBadRequest {
			t.Errorf("cursor=%s: status %d; want 400: %s", bad, st, b)
		}
	}
}
