package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/sim"
)

func TestOCPIPartiesAddTwiceNeedsReplace(t *testing.T) {
	clearEnv(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "cb.db")
	first, err := runCLI(t, "ocpi", "parties", "add", "--country", "NL", "--party", "ABC", "--db", db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "ocpi", "parties", "add", "--country", "nl", "--party", "abc", "--db", db)
	if err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("second parties add = %v; want a refusal that names --replace", err)
	}
	second, err := runCLI(t, "ocpi", "parties", "add", "--country", "NL", "--party", "ABC", "--replace", "--db", db)
	if err != nil {
		t.Fatal(err)
	}
	tok := regexp.MustCompile(`token_a: (\S+)`)
	if a, b := tok.FindStringSubmatch(first), tok.FindStringSubmatch(second); a == nil || b == nil || a[1] == b[1] {
		t.Fatalf("--replace did not issue a new token A:\n%s\n%s", first, second)
	}
	out, err := runCLI(t, "ocpi", "parties", "list", "--db", db)
	if err != nil || !regexp.MustCompile(`(?m)^NL-ABC\s+PENDING`).MatchString(out) {
		t.Fatalf("parties list table: %v\n%s", err, out)
	}
}

func TestTagsAddExpiredWarns(t *testing.T) {
	clearEnv(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "cb.db")
	out, err := runCLI(t, "tags", "add", "OLD", "--expires", "2020-01-01T00:00:00Z", "--db", db)
	if err != nil || !strings.Contains(out, "warning: id tag OLD expired at 2020-01-01T00:00:00Z") {
		t.Fatalf("tags add (expired): %v\n%s; want a warning", err, out)
	}
	out, err = runCLI(t, "tags", "add", "NEW", "--expires", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--db", db)
	if err != nil || strings.Contains(out, "warning") {
		t.Fatalf("tags add (valid): %v\n%s; want no warning", err, out)
	}
	out, err = runCLI(t, "tags", "list", "--db", db)
	if err != nil || !regexp.MustCompile(`(?m)^OLD\s+ISO14443\s+Accepted\s+2020-01-01T00:00:00Z \(expired\)`).MatchString(out) {
		t.Fatalf("tags list: %v\n%s", err, out)
	}
}

// A tag carries its type, and one longer than 1.6's 20 characters is
// stored with a note that only 2.0.1 stations can use it.
func TestTagsAddType(t *testing.T) {
	clearEnv(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "cb.db")
	emaid := "NL-CBR-C12345678-X-0123456789ABCDEF0"
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		want    string
	}{
		{"default-iso14443", []string{"tags", "add", "CARD1"}, false, "id tag CARD1 (ISO14443) stored"},
		{"emaid-36", []string{"tags", "add", emaid, "--type", "eMAID"}, false, "OCPP 1.6 chargers take at most 20"},
		{"unknown-type", []string{"tags", "add", "X", "--type", "Barcode"}, true, "id token type"},
		{"too-long", []string{"tags", "add", emaid + "1"}, true, "1 to 36 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, append(tt.args, "--db", db)...)
			if err != nil {
				out += err.Error()
			}
			if (err != nil) != tt.wantErr || !strings.Contains(out, tt.want) {
				t.Fatalf("%v: err %v\n%s; want error %v and %q", tt.args, err, out, tt.wantErr, tt.want)
			}
		})
	}
	out, err := runCLI(t, "tags", "list", "--db", db)
	if err != nil || !regexp.MustCompile(`(?m)^`+emaid+`\s+eMAID\s+Accepted`).MatchString(out) {
		t.Fatalf("tags list: %v\n%s; want the eMAID with its type", err, out)
	}
}

// A config file's numbers are seconds for duration keys; strings are
// durations; keys of server flags are fine for store commands.
func TestConfigFileDurations(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := newFlags("serve", "", "", os.Stdout)
	cfg := f.serverConfig()
	if _, err := f.parse([]string{"--config", write("secs.json", `{"heartbeat-interval": 300, "call-timeout": "45s", "http": "127.0.0.1:0"}`)}); err != nil {
		t.Fatal(err)
	}
	if cfg.HeartbeatInterval != 5*time.Minute || cfg.CallTimeout != 45*time.Second {
		t.Fatalf("heartbeat %v, call timeout %v; want 5m0s and 45s", cfg.HeartbeatInterval, cfg.CallTimeout)
	}
	bad := write("bad.json", `{"heartbeat-interval": "5"}`)
	if _, err := runCLI(t, "serve", "--config", bad); err == nil || !strings.Contains(err.Error(), "use a duration such as 5m or 300s") {
		t.Fatalf("config file with \"5\": %v", err)
	}
	db := "sqlite:" + filepath.Join(dir, "cb.db")
	shared := write("shared.json", `{"heartbeat-interval": 300, "http": "0.0.0.0:9999", "db": "`+db+`"}`)
	if out, err := runCLI(t, "chargers", "add", "CP-CONF", "--config", shared); err != nil {
		t.Fatalf("a store command with a serve config file: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "chargers", "add", "CP-X", "--config", write("typo.json", `{"heartbeat-intervall": 1}`), "--db", db); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Fatalf("unknown config key: %v", err)
	}
}

// serve binds its listener before it opens the database: a port in use
// creates no SQLite file.
func TestServePortInUseCreatesNoDatabase(t *testing.T) {
	clearEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	path := filepath.Join(t.TempDir(), "never.db")
	_, err = runCLI(t, "serve", "--http", ln.Addr().String(), "--db", "sqlite:"+path)
	if err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("serve on a port in use = %v; want the listen error", err)
	}
	if _, serr := os.Stat(path); !os.IsNotExist(serr) {
		t.Fatalf("the database file exists after the listen error (%v)", serr)
	}
}

// chargers list shows, from the running server, which chargers are
// connected, and from the database when each was last seen.
func TestChargersListConnected(t *testing.T) {
	clearEnv(t)
	s := cbtest.Start(t, cbtest.AutoRegister)
	db := "sqlite:" + s.DBPath
	runSimCharger(t, sim.Config{URL: "ws://" + s.Addr + "/ocpp", NoAutoStart: true}, "SIM-LIST")
	if _, err := runCLI(t, "chargers", "add", "CP-AWAY", "--db", db); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		ID         string  `json:"id"`
		Connected  *bool   `json:"connected"`
		LastSeenAt *string `json:"last_seen_at"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := runCLI(t, "chargers", "list", "--json", "--db", db, "--server", s.URL())
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if len(rows) == 2 && rows[1].ID == "SIM-LIST" && rows[1].Connected != nil && *rows[1].Connected && rows[1].LastSeenAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chargers list never showed SIM-LIST connected:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rows[0].ID != "CP-AWAY" || rows[0].Connected == nil || *rows[0].Connected {
		t.Fatalf("CP-AWAY = %+v; want not connected", rows[0])
	}
	out, err := runCLI(t, "chargers", "list", "--db", db, "--server", s.URL())
	if err != nil || !regexp.MustCompile(`(?m)^SIM-LIST\s+yes\s+\d+s ago\s+Accepted`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^CP-AWAY\s+no\s+never`).MatchString(out) {
		t.Fatalf("chargers list table: %v\n%s", err, out)
	}
	// Without a server the column is unknown, and it says so.
	out, err = runCLI(t, "chargers", "list", "--db", db, "--server", "http://127.0.0.1:1")
	if err != nil || !strings.Contains(out, "connected: unknown") || !regexp.MustCompile(`(?m)^SIM-LIST\s+\?`).MatchString(out) {
		t.Fatalf("chargers list without a server: %v\n%s", err, out)
	}
}

// Commands that talk to the server reach one with a private CA's
// certificate through --ca, and say what to do without it.
func TestAPICommandsOverTLS(t *testing.T) {
	clearEnv(t)
	pki := cbtest.NewPKI(t)
	s := cbtest.Start(t, cbtest.WithTLS(pki, false))
	base := "https://" + s.Addr
	_, err := runCLI(t, "cmd", "GHOST", "reset", "--server", base)
	if err == nil || !strings.Contains(err.Error(), "give its CA with --ca FILE") {
		t.Fatalf("cmd over TLS without --ca = %v; want the --ca hint", err)
	}
	_, err = runCLI(t, "cmd", "GHOST", "reset", "--server", base, "--ca", pki.CAFile)
	if err == nil || !strings.Contains(err.Error(), "not registered (chargebridge chargers add GHOST)") {
		t.Fatalf("cmd over TLS with --ca = %v; want the server's answer", err)
	}
}

func TestDeleteCommands(t *testing.T) {
	clearEnv(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "cb.db")
	for _, args := range [][]string{{"chargers", "add", "CP-DEL"}, {"tags", "add", "CARD-DEL"}} {
		if out, err := runCLI(t, append(args, "--db", db)...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	noServer := "http://127.0.0.1:1"
	if out, err := runCLI(t, "chargers", "delete", "CP-DEL", "--db", db, "--server", noServer); err != nil || !strings.Contains(out, "charger CP-DEL deleted; its sessions are kept") {
		t.Fatalf("chargers delete: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "chargers", "delete", "CP-DEL", "--db", db, "--server", noServer); err == nil || !strings.Contains(err.Error(), "CP-DEL is not registered") {
		t.Fatalf("chargers delete again = %v; want not registered", err)
	}
	if out, err := runCLI(t, "chargers", "list", "--json", "--db", db, "--server", noServer); err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("chargers list after delete: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "tags", "delete", "CARD-DEL", "--db", db); err != nil || !strings.Contains(out, "id tag CARD-DEL deleted") {
		t.Fatalf("tags delete: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "tags", "delete", "CARD-DEL", "--db", db); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("tags delete again = %v; want does not exist", err)
	}
}

// A connected charger is not deleted without --force.
func TestDeleteConnectedCharger(t *testing.T) {
	clearEnv(t)
	s := cbtest.Start(t, cbtest.AutoRegister)
	db := "sqlite:" + s.DBPath
	runSimCharger(t, sim.Config{URL: "ws://" + s.Addr + "/ocpp", NoAutoStart: true}, "SIM-DEL")
	deadline := time.Now().Add(10 * time.Second)
	for !s.OCPP().Connected("SIM-DEL") {
		if time.Now().After(deadline) {
			t.Fatal("the simulated charger did not connect")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := runCLI(t, "chargers", "delete", "SIM-DEL", "--db", db, "--server", s.URL()); err == nil || !strings.Contains(err.Error(), "is connected") {
		t.Fatalf("deleting a connected charger = %v; want refused", err)
	}
	if out, err := runCLI(t, "chargers", "delete", "SIM-DEL", "--force", "--db", db, "--server", s.URL()); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("chargers delete --force: %v\n%s", err, out)
	}
}
