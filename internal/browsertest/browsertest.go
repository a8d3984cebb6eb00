// Package browsertest drives the dashboard in headless Chromium through
// the DevTools protocol (chromedp), for tests. It needs a Chromium binary:
// Debian's `apt-get install chromium`, or any Chrome named by
// CHARGEBRIDGE_CHROMIUM. Without one a test is skipped (and fails in the
// full test run, CHARGEBRIDGE_TEST_ALL=1; see internal/testenv).
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chargebridge/chargebridge/internal/testenv"
)

// Chromium finds the browser or skips the test.
func Chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHARGEBRIDGE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "the dashboard's browser tests need Chromium, which is not installed: apt-get install -y chromium (or set CHARGEBRIDGE_CHROMIUM=/path/to/chrome)")
	return ""
}

// Start starts headless Chromium for the test and returns its context,
// which ends after timeout or with the test.
func Start(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	path := Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1400, 1000),
	)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	return bctx
}

// WaitJS polls a JavaScript boolean expression until it is true.
func WaitJS(ctx context.Context, t *testing.T, what, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil && (ctx.Err() != nil || time.Now().After(deadline)) {
			t.Fatalf("%s: %v", what, err)
		}
		// An error otherwise is the page navigating (a reload after an
		// action): look again.
		if ok {
			return
		}
		if time.Now().After(deadline) {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('main') || document.body).innerText.slice(0, 3000)`))
			t.Fatalf("%s: not seen within %s; the page shows:\n%s", what, timeout, html)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// EvalString evaluates a JavaScript expression of a string.
func EvalString(ctx context.Context, t *testing.T, expr string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// Click clicks the element a CSS selector finds, as a person would. A live
// page replaces its regions as events come in; when one was replaced
// between finding the element and clicking it (the DevTools protocol
// then knows no node by the id it found), nothing was clicked and the
// click is tried again on the element as it is now.
func Click(ctx context.Context, t *testing.T, sel string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel)))
		if err == nil {
			return
		}
		if !replaced(err) || time.Now().After(deadline) {
			t.Fatalf("click %s: %v", sel, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replaced reports whether err says the node found is no longer in the
// page (Chromium's messages for a node removed after it was found).
func replaced(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Could not find node with given id") || strings.Contains(s, "No node with given id") ||
		strings.Contains(s, "Node is detached from document")
}
