package ocpp

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestFrameLog(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := 0
	l := NewFrameLog(3, func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) })
	l.record("CP-1", "in", []byte("ignored: not watched"))
	if l.Watching("CP-1") || len(l.Frames("CP-1")) != 0 {
		t.Fatalf("a charger is watched before Watch")
	}
	l.Watch("CP-1", true)
	l.Watch("CP-1", true) // twice is once
	for i := 1; i <= 5; i++ {
		l.record("CP-1", "in", []byte(fmt.Sprintf("m%d", i)))
	}
	l.record("CP-2", "out", []byte("other charger"))
	got := l.Frames("CP-1")
	var msgs []string
	for _, f := range got {
		msgs = append(msgs, f.Dir+":"+f.Message)
	}
	if strings.Join(msgs, ",") != "in:m3,in:m4,in:m5" {
		t.Errorf("frames %v; want the last three, oldest first", msgs)
	}
	if !got[0].At.Before(got[2].At) {
		t.Errorf("times %v; want increasing", got)
	}
	l.record("CP-1", "out", []byte(strings.Repeat("x", maxLoggedMessage+10)))
	if last := l.Frames("CP-1")[2]; len(last.Message) > maxLoggedMessage+len("…") || last.Dir != "out" {
		t.Errorf("long message kept %d bytes (%s); want it cut", len(last.Message), last.Dir)
	}
	l.Watch("CP-1", false)
	if l.Watching("CP-1") || l.Frames("CP-1") != nil || l.watched.Load() != 0 {
		t.Errorf("after Watch off: still watched or frames kept")
	}
	var nilLog *FrameLog
	nilLog.record("CP-1", "in", []byte("x")) // a server without a log
}
