package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestDemo runs the demo as a newcomer would, for a few seconds: it prints
// where to look, sessions start, and Ctrl-C (here: the context) stops it
// cleanly.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"demo", "--http", "127.0.0.1:0", "--chargers", "4"}, &out, &errOut); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"dashboard        http://127.0.0.1:", "/ocpi/versions", "/beckn/{action}", "/api/v1/sessions", "done:"} {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Fatalf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if !bytes.Contains(out.Bytes(), []byte("tariff           DEMO (default): 0.35 EUR/kWh + 0.05 EUR/min parking after 2 h, VAT 21 %")) {
		t.Fatalf("the demo set up no tariff:\n%s", out.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("site             DEMO-SITE: DEMO-00001, DEMO-00002, DEMO-00003 share 150 kW")) {
		t.Fatalf("the demo set up no site:\n%s", out.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("Every 3rd charger (DEMO-00003, …) speaks OCPP 2.0.1, the others 1.6.")) {
		t.Fatalf("the demo runs no 2.0.1 station:\n%s", out.String())
	}
	if !regexp.MustCompile(`chargers online 4/4`).Match(out.Bytes()) {
		t.Fatalf("not all four demo chargers (three 1.6, one 2.0.1) came online:\n%s", out.String())
	}
	if !regexp.MustCompile(`done: .*, priced EUR \d+\.\d\d incl\. VAT \([1-9]\d* sessions\)`).Match(out.Bytes()) {
		t.Fatalf("the demo's sessions were not priced:\n%s", out.String())
	}
	m := regexp.MustCompile(`done: (\d+) sessions started`).FindSubmatch(out.Bytes())
	if m == nil {
		t.Fatalf("no summary line:\n%s", out.String())
	}
	if n, _ := strconv.Atoi(string(m[1])); n == 0 {
		t.Fatalf("no session started in the demo's first seconds:\n%s", out.String())
	}
}
