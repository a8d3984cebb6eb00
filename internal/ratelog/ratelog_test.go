package ratelog

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := New(10*time.Second, 3)
	t0 := time.Unix(1_000_000, 0)
	if ok, _ := l.Allow("a", t0); !ok {
		t.Fatal("first line held back")
	}
	for i := range 5 {
		if ok, _ := l.Allow("a", t0.Add(time.Duration(i)*time.Second)); ok {
			t.Fatal("a second line within the interval let through")
		}
	}
	ok, held := l.Allow("a", t0.Add(11*time.Second))
	if !ok || held != 5 {
		t.Fatalf("after the interval: %v, held %d; want true, 5", ok, held)
	}
	l.Allow("b", t0.Add(11*time.Second))
	l.Allow("c", t0.Add(11*time.Second))
	if ok, _ := l.Allow("d", t0.Add(11*time.Second)); ok {
		t.Fatal("the burst over all keys was exceeded")
	}
}
