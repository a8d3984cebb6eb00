package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/cli")

// clearEnv unsets every CHARGEBRIDGE_ variable for the test, so the
// machine's environment does not leak into what the CLI prints.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CHARGEBRIDGE_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
}

// runMain runs the CLI as main does and returns everything it printed,
// stdout then stderr, and the exit code.
func runMain(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	code := exitCode(err, &errOut)
	return out.String() + errOut.String(), code
}

// TestCLIGolden checks every command's help and the errors a newcomer
// meets against testdata/cli; -update rewrites the files.
func TestCLIGolden(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
	}{
		{"help", []string{"help"}, nil, 0},
		{"help-flag", []string{"--help"}, nil, 0},
		{"no-command", nil, nil, 2},
		{"unknown-command", []string{"frobnicate"}, nil, 2},
		{"serve-h", []string{"serve", "-h"}, nil, 0},
		{"demo-h", []string{"demo", "-h"}, nil, 0},
		{"sim-h", []string{"sim", "-h"}, nil, 0},
		{"bench-h", []string{"bench", "-h"}, nil, 0},
		{"migrate-h", []string{"migrate", "-h"}, nil, 0},
		{"version-h", []string{"version", "--help"}, nil, 0},
		{"chargers-h", []string{"chargers", "-h"}, nil, 0},
		{"chargers", []string{"chargers"}, nil, 2},
		{"chargers-add-h", []string{"chargers", "add", "-h"}, nil, 0},
		{"chargers-list-h", []string{"chargers", "list", "--help"}, nil, 0},
		{"chargers-delete-h", []string{"chargers", "delete", "-h"}, nil, 0},
		{"chargers-unknown", []string{"chargers", "frob"}, nil, 2},
		{"tags-h", []string{"tags", "-h"}, nil, 0},
		{"tags-add-h", []string{"tags", "add", "-h"}, nil, 0},
		{"tags-list-h", []string{"tags", "list", "-h"}, nil, 0},
		{"tags-delete-h", []string{"tags", "delete", "-h"}, nil, 0},
		{"tariffs-h", []string{"tariffs", "-h"}, nil, 0},
		{"tariffs-add-h", []string{"tariffs", "add", "-h"}, nil, 0},
		{"tariffs-list-h", []string{"tariffs", "list", "-h"}, nil, 0},
		{"tariffs-assign-h", []string{"tariffs", "assign", "-h"}, nil, 0},
		{"tariffs-delete-h", []string{"tariffs", "delete", "-h"}, nil, 0},
		{"tariffs-price-h", []string{"tariffs", "price", "-h"}, nil, 0},
		{"sites-h", []string{"sites", "-h"}, nil, 0},
		{"sites-set-h", []string{"sites", "set", "-h"}, nil, 0},
		{"sites-list-h", []string{"sites", "list", "-h"}, nil, 0},
		{"sites-show-h", []string{"sites", "show", "-h"}, nil, 0},
		{"sites-delete-h", []string{"sites", "delete", "-h"}, nil, 0},
		{"cluster-h", []string{"cluster", "-h"}, nil, 0},
		{"ocpi-h", []string{"ocpi", "-h"}, nil, 0},
		{"ocpi-parties-h", []string{"ocpi", "parties", "-h"}, nil, 0},
		{"ocpi-parties-add-h", []string{"ocpi", "parties", "add", "-h"}, nil, 0},
		{"ocpi-parties-list-h", []string{"ocpi", "parties", "list", "-h"}, nil, 0},
		{"ocpi-register-h", []string{"ocpi", "register", "-h"}, nil, 0},
		{"ocpi-unregister-h", []string{"ocpi", "unregister", "-h"}, nil, 0},
		{"beckn-h", []string{"beckn", "-h"}, nil, 0},
		{"beckn-keys-h", []string{"beckn", "keys", "-h"}, nil, 0},
		{"cmd-h", []string{"cmd", "-h"}, nil, 0},
		{"cmd-charger-h", []string{"cmd", "CP-1", "-h"}, nil, 0},
		{"cmd-reset-h", []string{"cmd", "CP-1", "reset", "-h"}, nil, 0},
		{"cmd-unlock-h", []string{"cmd", "CP-1", "unlock", "-h"}, nil, 0},
		{"cmd-raw-h", []string{"cmd", "CP-1", "raw", "-h"}, nil, 0},
		// Errors: one line that says what to do.
		{"duration-flag", []string{"serve", "--heartbeat-interval", "5"}, nil, 2},
		{"duration-env", []string{"serve"}, map[string]string{"CHARGEBRIDGE_HEARTBEAT_INTERVAL": "5"}, 1},
		{"missing-folder", []string{"chargers", "add", "CP-1", "--db", "sqlite:/nonexistent/dir/x.db"}, nil, 1},
		{"unknown-flag", []string{"tags", "add", "CARD", "--bogus"}, nil, 2},
		{"tags-add-no-tag", []string{"tags", "add"}, nil, 2},
		{"cmd-unlock-no-connector", []string{"cmd", "CP-1", "unlock"}, nil, 2},
		{"cmd-unknown", []string{"cmd", "CP-1", "explode"}, nil, 2},
		{"bad-expires", []string{"tags", "add", "CARD", "--expires", "tomorrow"}, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, code := runMain(t, tt.args...)
			got = fmt.Sprintf("$ chargebridge %s\n%s[exit %d]\n", strings.Join(tt.args, " "), got, code)
			path := filepath.Join("testdata", "cli", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestCLIGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("chargebridge %v printed:\n%s\nwant (%s):\n%s", tt.args, got, path, want)
			}
			if code != tt.code {
				t.Errorf("chargebridge %v exit %d; want %d", tt.args, code, tt.code)
			}
		})
	}
}

// TestEveryCommandHelp walks the whole command tree, commands added later
// included: every -h exits 0 with a usage line for that command, and only
// serve and demo show the server's flags.
func TestEveryCommandHelp(t *testing.T) {
	clearEnv(t)
	var walk func(path []string, c command)
	n := 0
	walk = func(path []string, c command) {
		for name, sub := range c.sub {
			if sub.summary == "" {
				continue // internal (bench-worker, bench-echo)
			}
			p := append(append([]string{}, path...), name)
			if sub.sub != nil {
				walk(p, sub)
			}
			args := append(append([]string{}, p...), "-h")
			if name == "cmd" && len(path) == 0 {
				args = []string{"cmd", "-h"}
			}
			out, code := runMain(t, args...)
			n++
			if code != 0 || !strings.HasPrefix(out, "usage: chargebridge "+strings.Join(p, " ")) {
				t.Errorf("chargebridge %s: exit %d, printed\n%s\nwant exit 0 and its usage line first", strings.Join(args, " "), code, out)
			}
			server := name == "serve" || name == "demo"
			if !server && (strings.Contains(out, "--heartbeat-interval") || strings.Contains(out, "--auto-register")) {
				t.Errorf("chargebridge %s lists the server's flags:\n%s", strings.Join(args, " "), out)
			}
		}
	}
	walk(nil, command{sub: commands()})
	if n < 20 {
		t.Fatalf("walked %d commands; want the whole tree", n)
	}
}
