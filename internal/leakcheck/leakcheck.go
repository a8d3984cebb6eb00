// Package leakcheck finds goroutines a test package left running: after
// the tests, every goroutine that still runs code of this module (a
// server's loop, a connection's reader, a worker) must have ended.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// module is the prefix of this module's functions in a stack trace.
const module = "github.com/chargebridge/chargebridge/"

// Leaked returns the stacks of goroutines still running code of this
// module (not the test harness's own), after waiting up to wait for them
// to end.
func Leaked(wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	for {
		left := ours()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ours() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, module) || strings.Contains(g, "leakcheck.ours") ||
			strings.Contains(g, "testing.(*M).Run") || strings.Contains(g, "testing.tRunner") {
			continue
		}
		out = append(out, g)
	}
	return out
}

// Main runs the package's tests, then fails the run when goroutines of
// this module are still running 5 s after the last test: call it from
// TestMain as os.Exit(leakcheck.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if code != 0 {
		return code
	}
	if left := Leaked(5 * time.Second); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "leakcheck: %d goroutine(s) of chargebridge still running after the tests:\n\n%s\n", len(left), strings.Join(left, "\n\n"))
		return 1
	}
	return 0
}
