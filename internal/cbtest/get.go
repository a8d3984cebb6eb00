package cbtest

import (
	"io"
	"net/http"
	"testing"
)

// Get GETs url with client (with an Authorization header when auth is
// set), reads the whole body and returns its size and the response's
// headers; anything but 200 fails tb. The read benchmarks time it.
func Get(tb testing.TB, client *http.Client, url, auth string) (int64, http.Header) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return n, resp.Header
}
