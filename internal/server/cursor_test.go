package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chargebridge/chargebridge/internal/cbtest"
)

// TestSessionsBadCursor: a cursor the server did not hand out is a 400 with
// a one-line error, never page 1 ("garbage" is valid base 36, the old
// cursor encoding, so it used to be read as a position).
func TestSessionsBadCursor(t *testing.T) {
	s := cbtest.Start(t)
	for _, cur := range []string{"garbage", "zz", "1", "1.x", ".", "-5"} {
		var e struct{ Error string }
		st := s.GetJSON("/api/v1/sessions?cursor="+cur, &e)
		if st != http.StatusBadRequest || e.Error == "" || strings.Contains(e.Error, "\n") {
			t.Errorf("cursor %q: got %d %q; want 400 with a one-line error", cur, st, e.Error)
		}
	}
	var page struct{ Items []any }
	if st := s.GetJSON("/api/v1/sessions?cursor=", &page); st != http.StatusOK {
		t.Errorf("empty cursor: got %d; want 200 (first page)", st)
	}
}
