package sim

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// A session the central system refuses at StartTransaction is reported
// through OnRefusal and is not counted as completed; one that charged is.
func TestRefusalsAndCompletedSessions(t *testing.T) {
	cs := startCSMS(t)
	cfg := testConfig(t, cs.URL)
	cfg.NoAutoStart = true
	var mu sync.Mutex
	refusals := map[string][]string{}
	cfg.OnRefusal = func(kind, reason string) {
		mu.Lock()
		defer mu.Unlock()
		refusals[kind] = append(refusals[kind], reason)
	}
	c := runCharger(t, cfg, "CP-REFUSE")
	cs.waitFor(t, "boot", func() bool { return len(cs.gotAction(c.ID(), "BootNotification")) > 0 && cs.connected(c.ID()) })

	// The test central system answers StartTransaction of a BLOCKED tag
	// with Invalid; a remote start skips Authorize.
	if got := cs.status(t, c.ID(), "RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "BLOCKED-1"}); got != "Accepted" {
		t.Fatalf("RemoteStartTransaction: got %s", got)
	}
	cs.waitFor(t, "the refused session's StopTransaction answered", func() bool { return cs.answeredCount(c.ID(), "StopTransaction") == 1 })
	// The charger reads its connection in order: once it answered a call
	// sent after the StopTransaction's answer, it has taken that answer.
	cs.status(t, c.ID(), "GetLocalListVersion", map[string]any{})
	if st := c.Stats(); st.SessionsStarted != 1 || st.SessionsCompleted != 0 {
		t.Fatalf("after the refused session: started %d, completed %d; want 1, 0", st.SessionsStarted, st.SessionsCompleted)
	}
	mu.Lock()
	got := slices.Clone(refusals["start"])
	mu.Unlock()
	if len(got) != 1 || got[0] != "StartTransaction answered idTagInfo Invalid" {
		t.Fatalf("start refusals: got %q; want one, saying Invalid", got)
	}

	cs.waitFor(t, "the connector to be free", func() bool {
		st := statusesOf(cs.got(c.ID()), 1)
		return len(st) > 0 && st[len(st)-1] == "Available" && slices.Contains(st, "Finishing")
	})
	if got := cs.status(t, c.ID(), "RemoteStartTransaction", map[string]any{"connectorId": 1, "idTag": "DRIVER-1"}); got != "Accepted" {
		t.Fatalf("RemoteStartTransaction: got %s", got)
	}
	cs.waitFor(t, "the second session's StopTransaction answered", func() bool { return cs.answeredCount(c.ID(), "StopTransaction") == 2 })
	cs.status(t, c.ID(), "GetLocalListVersion", map[string]any{})
	st := c.Stats()
	if st.SessionsStarted != 2 || st.SessionsCompleted != 1 {
		t.Fatalf("started %d, completed %d; want 2 started, 1 completed (the refused one is not)", st.SessionsStarted, st.SessionsCompleted)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refusals["start"]) != 1 {
		t.Fatalf("start refusals: got %q; want still one", refusals["start"])
	}
}

// A connection the central system drops is reported through OnRefusal as
// a "disconnect", with why: the bench's workers tally these to tell a lost
// connection from a refused one.
func TestDroppedConnectionIsReported(t *testing.T) {
	cs := startCSMS(t)
	cfg := testConfig(t, cs.URL)
	cfg.NoAutoStart = true
	var mu sync.Mutex
	var lost []string
	cfg.OnRefusal = func(kind, reason string) {
		if kind != "disconnect" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		lost = append(lost, reason)
	}
	c := runCharger(t, cfg, "CP-DROP")
	cs.waitFor(t, "boot", func() bool { return len(cs.gotAction(c.ID(), "BootNotification")) > 0 && cs.connected(c.ID()) })
	cs.kick(c.ID())
	cs.waitFor(t, "the drop to be reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lost) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if !strings.HasPrefix(lost[0], "connection lost: ") {
		t.Fatalf("disconnect reason %q; want it to start with \"connection lost: \"", lost[0])
	}
}

func TestLostReasonNamesTheCloseFrame(t *testing.T) {
	got := lostReason(fmt.Errorf("read: %w", wsutil.ClosedError{Code: ws.StatusPolicyViolation, Reason: "replaced by a new connection"}))
	if want := "closed by the central system: 1008 replaced by a new connection"; got != want {
		t.Fatalf("got %q; want %q", got, want)
	}
}
