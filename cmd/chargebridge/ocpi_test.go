package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestOCPIPartiesAdd(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "cb.db")
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"ocpi", "parties", "add", "--country", "NL", "--party", "ABC", "--db", db,
		"--public-url", "https://cpo.example.com"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !regexp.MustCompile(`^token_a: [0-9a-f-]{36}$`).MatchString(lines[0]) ||
		lines[1] != "versions_url: https://cpo.example.com/ocpi/versions" {
		t.Fatalf("output %q; want the two lines token_a: … and versions_url: …", out.String())
	}
	got, err := runCLI(t, "ocpi", "parties", "list", "--json", "--db", db)
	if err != nil || !strings.Contains(got, `"party": "NL-ABC"`) || !strings.Contains(got, `"status": "PENDING"`) {
		t.Fatalf("parties list: %v\n%s", err, got)
	}
	if _, err := runCLI(t, "ocpi", "parties", "add", "--country", "NLD", "--party", "ABC", "--db", db); err == nil {
		t.Fatal("a three-letter country code was accepted")
	}
}
